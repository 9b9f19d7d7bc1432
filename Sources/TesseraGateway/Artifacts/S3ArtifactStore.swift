import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import OpenAPIRuntime
import TesseraCore

#if canImport(Glibc)
    import Glibc
#endif

/// The S3 artifact store: blobs as objects `<prefix><org>/<sha256 in hex>` of one bucket of any S3-compatible
/// service, addressed path-style (`<endpoint>/<bucket>/<key>`) and signed with Signature Version 4. A received blob
/// (staged on local disk, where it was hashed and counted) is sent in one PUT up to `artifacts.s3_part_bytes`,
/// above that as a multipart upload of parts that large (aborted if any part fails, so no part is left behind); an
/// object is whole once its PUT or its completion answers. Blobs already there (the same bytes) are not sent again.
struct S3ArtifactStore: ArtifactStore {
    let staging: ArtifactStaging
    let endpoint: String
    let host: String
    let bucket: String
    let prefix: String
    let signer: SigV4
    /// `artifacts.s3_part_bytes`.
    let partBytes: Int
    static let http = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow).untraced())

    init(staging: ArtifactStaging, settings: Settings.Artifacts) throws {
        guard let url = URL(string: settings.s3Endpoint), let scheme = url.scheme, let host = url.host,
            ["http", "https"].contains(scheme), url.path.isEmpty || url.path == "/"
        else {
            throw SettingsError.invalidValue(
                key: "artifacts.s3_endpoint", source: .defaultValue, expected: "an http(s) URL without a path")
        }
        guard !settings.s3Bucket.isEmpty, !settings.s3AccessKey.isEmpty, settings.s3SecretKey != nil else {
            throw SettingsError.invalidValue(
                key: "artifacts.s3_bucket", source: .defaultValue,
                expected: "artifacts.s3_bucket, s3_access_key and s3_secret_key set for the s3 store")
        }
        self.staging = staging
        self.partBytes = settings.s3PartBytes
        self.endpoint = "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
        self.host = "\(host)\(url.port.map { ":\($0)" } ?? "")"
        self.bucket = settings.s3Bucket
        self.prefix = settings.s3Prefix
        self.signer = SigV4(
            accessKey: settings.s3AccessKey, secretKey: settings.s3SecretKey?.value ?? "", region: settings.s3Region)
    }

    func key(_ org: UUID, _ sha256: [UInt8]) -> String { "\(prefix)\(org.uuidString.lowercased())/\(sha256.hexString)" }

    func place(_ org: UUID, _ staged: StagedBlob) async throws {
        let key = key(org, staged.sha256)
        if try await exists(key) { return }
        let file = open(staged.path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { throw ArtifactStaging.failure(errno, "cannot read the received artifact") }
        defer { close(file) }
        if staged.sizeBytes <= partBytes {
            let bytes = try Self.read(file, offset: 0, count: staged.sizeBytes)
            let response = try await send(
                .PUT, key, body: bytes, payloadHash: staged.sha256.hexString, timeout: .seconds(120))
            try Self.expect(response, [200], "store the artifact")
            return
        }
        try await multipart(key, file: file, size: staged.sizeBytes)
    }

    private func multipart(_ key: String, file: Int32, size: Int) async throws {
        let created = try await send(.POST, key, query: [("uploads", "")])
        try Self.expect(created, [200], "start the artifact's upload")
        guard let upload = Self.element("UploadId", in: try await Self.text(created)) else {
            throw TesseraError.unavailable("the artifact store's answer to an upload has no UploadId")
        }
        do {
            var tags: [String] = []
            var offset = 0
            while offset < size {
                let part = try Self.read(file, offset: offset, count: min(partBytes, size - offset))
                let response = try await send(
                    .PUT, key, query: [("partNumber", String(tags.count + 1)), ("uploadId", upload)], body: part,
                    payloadHash: SHA256.hash(data: part).hexString, timeout: .seconds(120))
                try Self.expect(response, [200], "store a part of the artifact")
                guard let tag = response.headers.first(name: "etag") else {
                    throw TesseraError.unavailable("the artifact store's answer to a part has no ETag")
                }
                tags.append(tag)
                offset += part.count
            }
            let parts = tags.enumerated().map {
                "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>"
            }
            let body = Array("<CompleteMultipartUpload>\(parts.joined())</CompleteMultipartUpload>".utf8)
            let completed = try await send(
                .POST, key, query: [("uploadId", upload)], body: body, payloadHash: SHA256.hash(data: body).hexString,
                timeout: .seconds(120))
            try Self.expect(completed, [200], "complete the artifact's upload")
            // S3 may answer 200 and put the error in the body.
            guard !(try await Self.text(completed)).contains("<Error>") else {
                throw TesseraError.unavailable("the artifact store refused to complete the upload")
            }
        } catch {
            _ = try? await send(.DELETE, key, query: [("uploadId", upload)])
            throw error
        }
    }

    func remove(_ org: UUID, _ sha256: [UInt8]) async {
        _ = try? await send(.DELETE, key(org, sha256))
    }

    func read(_ org: UUID, _ sha256: [UInt8], range: Range<Int>) async throws -> HTTPBody? {
        let key = key(org, sha256)
        if range.isEmpty { return try await exists(key) ? HTTPBody() : nil }
        let response = try await send(
            .GET, key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")],
            timeout: .hours(24))
        if response.status == .notFound { return nil }
        try Self.expect(response, [200, 206], "read the artifact")
        let chunks = response.body.map { ArraySlice($0.readableBytesView) }
        return HTTPBody(chunks, length: .known(Int64(range.count)), iterationBehavior: .single)
    }

    func contains(_ org: UUID, _ sha256: [UInt8]) async throws -> Bool { try await exists(key(org, sha256)) }

    func exists(_ key: String) async throws -> Bool {
        let response = try await send(.HEAD, key)
        if response.status == .notFound { return false }
        try Self.expect(response, [200], "look up the artifact")
        return true
    }

    /// A signed request for the object `key` (path-style).
    func send(
        _ method: HTTPMethod, _ key: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8]? = nil, payloadHash: String = SigV4.emptyPayloadHash, timeout: TimeAmount = .seconds(30)
    ) async throws -> HTTPClientResponse {
        let path = "/\(bucket)/\(key)"
        let signed = [("Host", host)] + headers
        var request = HTTPClientRequest(
            url: endpoint + SigV4.encodePath(path) + (query.isEmpty ? "" : "?" + SigV4.canonicalQuery(query)))
        request.method = method
        for (name, value) in signed
            + signer.headers(
                method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash,
                date: Date())
        {
            request.headers.add(name: name, value: value)
        }
        if let body { request.body = HTTPClientRequest.Body.bytes(ByteBuffer(bytes: body)) }
        do {
            return try await Self.http.execute(request, timeout: timeout)
        } catch {
            throw TesseraError.unavailable("the artifact store cannot be reached")
        }
    }

    static func expect(_ response: HTTPClientResponse, _ statuses: [UInt], _ what: String) throws {
        guard statuses.contains(response.status.code) else {
            throw TesseraError.unavailable("the artifact store did not \(what) (HTTP \(response.status.code))")
        }
    }

    static func text(_ response: HTTPClientResponse) async throws -> String {
        String(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    /// The text of the first `<name>` element (S3's answers are small, flat XML).
    static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"),
            let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    static func read(_ file: Int32, offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = bytes.withUnsafeMutableBytes {
                pread(file, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            guard read > 0 else { throw ArtifactStaging.failure(errno, "cannot read the received artifact") }
            done += read
        }
        return bytes
    }
}
