import Crypto
import Foundation
import NIOPosix
import OpenAPIRuntime
import TesseraCore
import TesseraPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// Where an org's artifact blobs live: `FileArtifactStore` (the default) or `S3ArtifactStore`. A blob arrives
/// into local staging first (`ArtifactStaging`: hashed and counted on the way), is placed at its content address,
/// removed when no artifact refers to it, and read back as a byte range. Nothing here knows which artifacts refer
/// to a blob: `ArtifactRepository` decides, under the blob's lock, when one is placed or goes.
protocol ArtifactStore: Sendable {
    var staging: ArtifactStaging { get }
    /// Puts a received blob at its address (the staged file stays, for `staging.discard`); a blob already there
    /// stays as it is.
    func place(_ org: UUID, _ staged: StagedBlob) async throws
    /// Whether a blob of these bytes is at its address.
    func contains(_ org: UUID, _ sha256: [UInt8]) async throws -> Bool
    /// Removes a placed blob no artifact refers to (its lock held by the caller); a failure leaves it behind.
    func remove(_ org: UUID, _ sha256: [UInt8]) async
    /// The bytes `range` of a placed blob, read as they are sent; nil when the blob is missing.
    func read(_ org: UUID, _ sha256: [UInt8], range: Range<Int>) async throws -> HTTPBody?
}

/// A blob received whole, counted and hashed, waiting in the org's staging folder to be placed.
struct StagedBlob: Sendable {
    let path: String
    let sizeBytes: Int
    let sha256: [UInt8]
}

/// Local staging for received blobs, `<paths.artifact_root>/<org>/tmp`: an upload is written there as it arrives,
/// counted and hashed, and synced, so a full disk or a killed process leaves at most a file there, never a partial
/// blob at an address.
struct ArtifactStaging: Sendable {
    let root: String

    func folder(_ org: UUID) -> String { "\(root)/\(org.uuidString.lowercased())" }

    /// Writes `body` to a new file of the org's staging folder. Past `limit` bytes the file is removed and
    /// `tooLarge(limit)` thrown; so is it on any failure (nothing half-written stays).
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
            // On NIO's thread pool: the request's own thread is an event loop, and a sync can take a while.
            let failed = try await NIOThreadPool.singleton.runIfActive { fsync(fd) == 0 ? 0 : errno }
            guard failed == 0 else { throw Self.failure(failed, "cannot store the artifact") }
        } catch {
            unlink(path)
            throw error
        }
        return StagedBlob(path: path, sizeBytes: size, sha256: hasher.finalize().bytes)
    }

    /// Removes a received blob (once recorded, or refused).
    func discard(_ staged: StagedBlob) { unlink(staged.path) }

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

    /// A full disk is said so; other causes by their system message (never a path).
    static func failure(_ code: Int32, _ what: String) -> TesseraError {
        if code == ENOSPC || code == EDQUOT {
            return .unavailable("the artifact store is full: \(what); nothing was stored")
        }
        return .unavailable("\(what): \(String(cString: strerror(code)))")
    }
}

/// The filesystem artifact store (the default): each org's blobs under
/// `<paths.artifact_root>/<org>/blobs/<first two hex digits>/<sha256 in hex>`, hard-linked there from staging (one
/// filesystem: a blob at its address is whole).
struct FileArtifactStore: ArtifactStore {
    let staging: ArtifactStaging
    static let chunkBytes = 256 << 10

    func path(_ org: UUID, _ sha256: [UInt8]) -> String {
        let hex = sha256.hexString
        return "\(staging.folder(org))/blobs/\(hex.prefix(2))/\(hex)"
    }

    func place(_ org: UUID, _ staged: StagedBlob) async throws {
        let target = path(org, staged.sha256)
        try ArtifactStaging.makeFolder(String(target[..<target.lastIndex(of: "/")!]))
        guard link(staged.path, target) == 0 || errno == EEXIST else {
            throw ArtifactStaging.failure(errno, "cannot store the artifact")
        }
    }

    func contains(_ org: UUID, _ sha256: [UInt8]) async throws -> Bool { access(path(org, sha256), F_OK) == 0 }

    func remove(_ org: UUID, _ sha256: [UInt8]) async { unlink(path(org, sha256)) }

    func read(_ org: UUID, _ sha256: [UInt8], range: Range<Int>) async throws -> HTTPBody? {
        let fd = open(path(org, sha256), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw ArtifactStaging.failure(errno, "cannot read the artifact")
        }
        return HTTPBody(
            BlobChunks(file: OpenFile(fd), range: range), length: .known(Int64(range.count)), iterationBehavior: .single
        )
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
            var read = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                read = pread(file.fd, buffer.baseAddress!, count, off_t(offset))
                initialized = Swift.max(read, 0)
            }
            guard read > 0 else {
                throw read == 0
                    ? TesseraError.unavailable("the artifact's blob is shorter than recorded")
                    : ArtifactStaging.failure(errno, "cannot read the artifact")
            }
            offset += read
            return chunk[...]
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(file: file, offset: range.lowerBound, end: range.upperBound)
    }
}
