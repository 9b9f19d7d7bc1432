import Crypto
import Foundation
import TesseraCore
import TesseraPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// A blob received whole, counted and hashed, waiting in the org's `tmp` folder to be placed at its address.
struct StagedBlob: Sendable {
    let path: String
    let sizeBytes: Int
    let sha256: [UInt8]
}

/// The filesystem artifact store (the default): each org's blobs under
/// `<paths.artifact_root>/<org>/blobs/<first two hex digits>/<sha256 in hex>`. A blob is written to `<org>/tmp`,
/// synced, and renamed to its address (one filesystem: a blob at its address is whole), so a full disk or a
/// killed process leaves at most a file in `tmp`, never a partial blob. Nothing here knows which artifacts
/// refer to a blob: `ArtifactRepository` decides, under the blob's lock, when one is placed or goes.
struct FileArtifactStore: Sendable {
    let root: String
    static let chunkBytes = 256 << 10

    func folder(_ org: UUID) -> String { "\(root)/\(org.uuidString.lowercased())" }

    func path(_ org: UUID, _ sha256: [UInt8]) -> String {
        let hex = sha256.hexString
        return "\(folder(org))/blobs/\(hex.prefix(2))/\(hex)"
    }

    /// Writes `body` to a new file in the org's `tmp` folder, counting and hashing as it arrives. Past `limit`
    /// bytes the file is removed and `tooLarge(limit)` thrown; so is it on any failure (nothing half-written stays).
    func receive<Body: AsyncSequence>(
        _ org: UUID, _ body: Body, limit: Int, tooLarge: (Int) -> any Error
    ) async throws -> StagedBlob where Body.Element == ArraySlice<UInt8> {
        let tmp = "\(folder(org))/tmp"
        try Self.makeFolder(tmp)
        let path = "\(tmp)/\(UUID().uuidString.lowercased()).upload"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure(errno, "cannot store the artifact") }
        var hasher = SHA256()
        var size = 0
        do {
            defer { close(fd) }
            for try await chunk in body {
                size += chunk.count
                if size > limit { throw tooLarge(limit) }
                hasher.update(data: chunk)
                try Self.write(fd, chunk)
            }
            guard fsync(fd) == 0 else { throw Self.failure(errno, "cannot store the artifact") }
        } catch {
            unlink(path)
            throw error
        }
        return StagedBlob(path: path, sizeBytes: size, sha256: Array(hasher.finalize()))
    }

    /// Moves a received blob to its address; when a blob is there already (the same bytes), the copy goes.
    func place(_ org: UUID, _ staged: StagedBlob) throws {
        let target = path(org, staged.sha256)
        try Self.makeFolder(String(target[..<target.lastIndex(of: "/")!]))
        if access(target, F_OK) == 0 {
            unlink(staged.path)
            return
        }
        guard rename(staged.path, target) == 0 else { throw Self.failure(errno, "cannot store the artifact") }
    }

    /// Removes a received blob that will not be placed.
    func discard(_ staged: StagedBlob) { unlink(staged.path) }

    /// Removes a placed blob no artifact refers to (its lock held by the caller).
    func remove(_ org: UUID, _ sha256: [UInt8]) { unlink(path(org, sha256)) }

    /// Sets the blob aside (renamed into `tmp`) while its last artifact's deletion commits: removed after the
    /// commit, put back if the deletion does not commit.
    func release(_ org: UUID, _ sha256: [UInt8]) throws -> BlobRelease {
        let target = path(org, sha256)
        let aside = "\(folder(org))/tmp/\(UUID().uuidString.lowercased()).released"
        guard rename(target, aside) == 0 else {
            if errno == ENOENT { return BlobRelease(commit: {}, rollback: {}) }
            throw Self.failure(errno, "cannot remove the artifact")
        }
        return BlobRelease(commit: { unlink(aside) }, rollback: { rename(aside, target) })
    }

    /// The bytes `range` of a placed blob, read as they are sent; nil when the blob is missing.
    func read(_ org: UUID, _ sha256: [UInt8], range: Range<Int>) throws -> BlobChunks? {
        let fd = open(path(org, sha256), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw Self.failure(errno, "cannot read the artifact")
        }
        return BlobChunks(file: OpenFile(fd), range: range)
    }

    static func write(_ fd: Int32, _ chunk: ArraySlice<UInt8>) throws {
        try chunk.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure(errno, "cannot store the artifact")
                }
                offset += written
            }
        }
    }

    static func makeFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TesseraError.unavailable("the artifact store cannot be written")
        }
    }

    /// A full store is said so; other causes by their system message (never a path).
    static func failure(_ code: Int32, _ what: String) -> TesseraError {
        if code == ENOSPC || code == EDQUOT {
            return .unavailable("the artifact store is full: \(what); nothing was stored")
        }
        return .unavailable("\(what): \(String(cString: strerror(code)))")
    }
}

/// A file descriptor closed when the last reader lets it go.
final class OpenFile: Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// A byte range of an open blob, as chunks read one at a time as the response is written (memory stays at one
/// chunk however large the blob).
struct BlobChunks: AsyncSequence, Sendable {
    typealias Element = ArraySlice<UInt8>
    let file: OpenFile
    let range: Range<Int>

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: OpenFile
        var offset: Int
        let end: Int

        mutating func next() async throws -> ArraySlice<UInt8>? {
            guard offset < end else { return nil }
            let count = Swift.min(FileArtifactStore.chunkBytes, end - offset)
            var chunk = [UInt8](repeating: 0, count: count)
            let read = chunk.withUnsafeMutableBytes { pread(file.fd, $0.baseAddress!, count, off_t(offset)) }
            guard read > 0 else {
                throw read == 0
                    ? TesseraError.unavailable("the artifact's blob is shorter than recorded")
                    : FileArtifactStore.failure(errno, "cannot read the artifact")
            }
            offset += read
            return chunk[0..<read]
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(file: file, offset: range.lowerBound, end: range.upperBound)
    }
}
