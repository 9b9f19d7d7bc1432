import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraTestSupport
import Testing

@testable import TesseraGateway

/// Artifacts through the API against the filesystem store: bytes in and out whole and by range, one blob for the
/// same bytes, signed links, the quota, deletion that frees the blob, a full disk.
@Suite struct ArtifactTests {
    static let logger = TestDatabase.logger

    struct Artifact: Decodable {
        let id: String
        let name: String
        let content_type: String
        let size_bytes: Int
        let sha256: String
    }

    static func upload(
        _ client: some TestClientProtocol, _ calls: OrgCalls, _ bytes: [UInt8], name: String,
        contentType: String? = nil
    ) async throws -> TestResponse {
        var headers = calls.headers
        headers[.contentType] = "application/octet-stream"
        let query =
            contentType.map { "&content_type=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
            ?? ""
        return try await client.execute(
            uri: "/v1/orgs/\(calls.org)/artifacts?name=\(name)\(query)", method: .post, headers: headers,
            body: ByteBuffer(bytes: bytes))
    }

    static func files(_ folder: String) -> [String] {
        (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter {
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(folder)/\($0)", isDirectory: &directory)
                && !directory.boolValue
        }
    }

    /// Runs `body` with settings for the store named: the filesystem, or a real S3-protocol server (moto) on
    /// loopback with parts of 5 MiB, so an upload of 11 MiB goes as a three-part multipart upload.
    static func withStore(_ kind: String, _ body: (@escaping (inout Settings) -> Void) async throws -> Void)
        async throws
    {
        guard kind == "s3" else { return try await body { _ in } }
        try await ScriptServer.with("s3-test-server", ["--bucket", "tessera-test"]) { port in
            try await body { settings in
                settings.artifacts.store = .s3
                settings.artifacts.s3Endpoint = "http://127.0.0.1:\(port)"
                settings.artifacts.s3Bucket = "tessera-test"
                settings.artifacts.s3Prefix = "artifacts/"
                settings.artifacts.s3AccessKey = "test"
                settings.artifacts.s3SecretKey = Secret("test")
                settings.artifacts.s3PartBytes = 5 << 20
            }
        }
    }

    @Test(arguments: ["filesystem", "s3"])
    func artifactsStreamInAndOutAndTheirBlobGoesWithTheLastOne(store kind: String) async throws {
        try await Self.withStore(kind) { tune in
            try await TenantEnv.with(configure: tune) { env in
                let platform = try await AccessFixture.platformKey(env.settings)
                let org = try await env.provisioned("artifacts")
                let other = try await env.provisioned("artifacts-b")
                let app = try buildApplication(settings: env.settings, logger: Self.logger)
                let folder = "\(env.settings.paths.artifactRoot)/\(org.uuidString.lowercased())"
                let store = try artifactStore(env.settings)
                /// Whether the store holds a blob of these bytes (asked through the store, as a download would).
                @Sendable func stored(_ bytes: [UInt8]) async throws -> Bool {
                    try await store.read(org, Array(SHA256.hash(data: bytes)), range: 0..<0) != nil
                }
                try await app.test(.router) { client in
                    let calls = OrgCalls(client: client, org: org, key: platform)
                    let bytes = Array(FileHandle(forReadingAtPath: "/dev/urandom")!.readData(ofLength: (11 << 20) + 17))
                    let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()

                    let created = try await Self.upload(
                        client, calls, bytes, name: "pose.pdbqt", contentType: "chemical/x-pdbqt")
                    #expect(created.status == .created, "\(String(buffer: created.body))")
                    let first = try JSONDecoder().decode(Artifact.self, from: Data(buffer: created.body))
                    #expect(
                        first.sha256 == digest && first.size_bytes == bytes.count
                            && first.content_type == "chemical/x-pdbqt")
                    let copy = try JSONDecoder().decode(
                        Artifact.self,
                        from: Data(buffer: try await Self.upload(client, calls, bytes, name: "copy").body))
                    #expect(copy.sha256 == digest && copy.content_type == "application/octet-stream")
                    // One blob for the same bytes, at its address; nothing left in staging.
                    #expect(try await stored(bytes))
                    if kind == "filesystem" {
                        #expect(Self.files("\(folder)/blobs") == ["\(digest.prefix(2))/\(digest)"])
                    }
                    #expect(Self.files("\(folder)/tmp").isEmpty)

                    let whole = try await calls.get("/artifacts/\(first.id)")
                    #expect(whole.status == .ok)
                    #expect(Array(buffer: whole.body) == bytes)
                    #expect(whole.headers[.contentType] == "application/octet-stream")
                    #expect(whole.headers[.eTag] == "\"\(digest)\"")
                    #expect(whole.headers[.acceptRanges] == "bytes")
                    #expect(whole.headers[.contentDisposition] == "attachment; filename=\"pose.pdbqt\"")
                    #expect(whole.headers[.contentLength] == String(bytes.count))

                    func ranged(_ range: String) async throws -> TestResponse {
                        var headers = calls.headers
                        headers[.range] = range
                        return try await client.execute(
                            uri: "/v1/orgs/\(org)/artifacts/\(first.id)", method: .get, headers: headers)
                    }
                    let middle = try await ranged("bytes=1048570-1048589")
                    #expect(middle.status == .partialContent)
                    #expect(Array(buffer: middle.body) == Array(bytes[1_048_570...1_048_589]))
                    #expect(middle.headers[.contentRange] == "bytes 1048570-1048589/\(bytes.count)")
                    let across = try await ranged("bytes=5242870-5242889")  // across the first part's end (S3: 5 MiB)
                    #expect(
                        across.status == .partialContent
                            && Array(buffer: across.body) == Array(bytes[5_242_870...5_242_889]))
                    let tail = try await ranged("bytes=-5")
                    #expect(tail.status == .partialContent && Array(buffer: tail.body) == Array(bytes.suffix(5)))
                    let beyond = try await ranged("bytes=\(bytes.count)-")
                    #expect(beyond.status == .rangeNotSatisfiable)
                    #expect(beyond.headers[.contentRange] == "bytes */\(bytes.count)")
                    #expect(try await ranged("bytes=0-1,5-6").status == .ok)  // several ranges: the whole

                    let listed = try await calls.get("/artifacts?limit=1")
                    struct Page: Decodable {
                        let items: [Artifact]
                        let next_cursor: String?
                    }
                    let page = try JSONDecoder().decode(Page.self, from: Data(buffer: listed.body))
                    #expect(page.items.map(\.id) == [first.id] && page.next_cursor == first.id)
                    let metadata = try await calls.get("/artifacts/\(copy.id)/metadata")
                    #expect(try JSONDecoder().decode(Artifact.self, from: Data(buffer: metadata.body)).name == "copy")

                    // A signed link downloads without a key, until it expires; a changed one never does.
                    struct Link: Decodable { let url: String }
                    let link = try JSONDecoder().decode(
                        Link.self,
                        from: Data(buffer: try await calls.post("/artifacts/\(first.id)/download-link", "").body))
                    let fetched = try await client.execute(uri: link.url, method: .get, headers: [.range: "bytes=0-9"])
                    #expect(fetched.status == .partialContent && Array(buffer: fetched.body) == Array(bytes.prefix(10)))
                    var forged = link.url
                    forged.replaceSubrange(
                        forged.index(forged.startIndex, offsetBy: 30)...forged.index(forged.startIndex, offsetBy: 30),
                        with: forged[forged.index(forged.startIndex, offsetBy: 30)] == "a" ? "b" : "a")
                    #expect(try await client.execute(uri: forged, method: .get).status == .notFound)
                    let short = try JSONDecoder().decode(
                        Link.self,
                        from: Data(
                            buffer: try await calls.post("/artifacts/\(first.id)/download-link?expires_in=1", "").body))
                    try await Task.sleep(for: .milliseconds(2100))
                    #expect(try await client.execute(uri: short.url, method: .get).status == .notFound)
                    #expect(
                        try await calls.post("/artifacts/\(first.id)/download-link?expires_in=90000", "").status
                            == .badRequest)

                    // Another org sees none of it.
                    let stranger = OrgCalls(client: client, org: other, key: platform)
                    #expect(try await stranger.get("/artifacts/\(first.id)").status == .notFound)
                    #expect(try await stranger.send(.delete, "/artifacts/\(first.id)").status == .notFound)

                    // Bad names and media types are 400s with nothing stored.
                    #expect(
                        try await Self.upload(client, calls, [1], name: "x", contentType: "not a type").status
                            == .badRequest)
                    #expect(try await Self.upload(client, calls, [1], name: "a%0Ab").status == .badRequest)

                    // The blob stays while an artifact refers to it, and goes with the last.
                    #expect(try await calls.send(.delete, "/artifacts/\(first.id)").status == .noContent)
                    #expect(try await calls.get("/artifacts/\(first.id)").status == .notFound)
                    #expect(try await stored(bytes))
                    #expect(try await calls.send(.delete, "/artifacts/\(copy.id)").status == .noContent)
                    let kept = try await stored(bytes)
                    #expect(!kept && Self.files("\(folder)/tmp").isEmpty)
                    #expect(try await calls.send(.delete, "/artifacts/\(copy.id)").status == .notFound)

                    // The quota: an upload past it is refused while it arrives, nothing kept.
                    let quota = try await client.execute(
                        uri: "/v1/orgs/\(org)/quotas", method: .put, headers: calls.headers,
                        body: ByteBuffer(string: #"{"artifact_bytes":1000}"#))
                    #expect(quota.status == .ok)
                    let big = try await Self.upload(client, calls, Array(bytes.prefix(2000)), name: "big")
                    try QuotaTests.refused(big, "artifact_bytes", limit: 1000, used: 0)
                    #expect(
                        try await Self.upload(client, calls, Array(bytes.prefix(600)), name: "a").status == .created)
                    try QuotaTests.refused(
                        try await Self.upload(client, calls, Array(bytes.suffix(600)), name: "b"), "artifact_bytes",
                        limit: 1000, used: 600)
                    #expect(try await stored(Array(bytes.prefix(600))) && Self.files("\(folder)/tmp").isEmpty)
                    let refusedBig = try await stored(Array(bytes.prefix(2000)))
                    let refusedSecond = try await stored(Array(bytes.suffix(600)))
                    #expect(!refusedBig && !refusedSecond)

                    // Every change has its record.
                    try await waitUntil(timeout: .seconds(10)) {
                        let actions = try await env.client.withConnection { connection in
                            try await connection.query(
                                "SELECT action FROM audit_logs WHERE org_id = \(org) AND action LIKE 'artifact.%'",
                                logger: Self.logger
                            ).collect().map { try $0.decode(String.self) }
                        }
                        return actions.filter { $0 == "artifact.create" }.count == 3
                            && actions.filter { $0 == "artifact.delete" }.count == 2
                    }
                }
            }
        }
    }

    /// The artifact root full (a 1 MiB tmpfs mounted on the org's folder): a clear 503, nothing half-written, and the
    /// store works again once there is room.
    @Test func aFullArtifactStoreIsAClearErrorWithNothingHalfWritten() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("artifacts-full")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            let folder = "\(env.settings.paths.artifactRoot)/\(org.uuidString.lowercased())"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try await Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", folder])
            let outcome: Result<Void, any Error>
            do {
                try await app.test(.router) { client in
                    let calls = OrgCalls(client: client, org: org, key: platform)
                    let full = try await Self.upload(client, calls, [UInt8](repeating: 7, count: 2 << 20), name: "big")
                    #expect(full.status == .serviceUnavailable)
                    #expect(
                        String(buffer: full.body).contains("the artifact store is full"), "\(String(buffer: full.body))"
                    )
                    #expect(Self.files(folder).isEmpty, "\(Self.files(folder))")
                    #expect(String(buffer: try await calls.get("/artifacts").body).contains(#""items":[]"#))
                    let fits = try await Self.upload(
                        client, calls, [UInt8](repeating: 7, count: 512 << 10), name: "fits")
                    #expect(fits.status == .created)
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            try await Self.run("/bin/umount", [folder])  // whatever happened: a mount must not outlive its test
            try outcome.get()
        }
    }

    static func run(_ tool: String, _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let exit = ProcessExit(process)
        try process.run()
        let status = await exit.status()
        guard status == 0 else {
            Issue.record("\(tool) \(arguments.joined(separator: " ")) exited with \(status)")
            throw CancellationError()
        }
    }
}
