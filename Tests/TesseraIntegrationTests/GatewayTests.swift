import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import TesseraCore
import Testing

@testable import TesseraGateway

@Suite struct GatewayTests {
    static let logger = TestDatabase.logger

    struct ProblemBody: Decodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let request_id: String?
    }

    static func problem(_ response: TestResponse, status: HTTPResponse.Status) throws -> ProblemBody {
        #expect(response.status == status)
        #expect(response.headers[.contentType] == "application/problem+json")
        let body = try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: response.body))
        #expect(body.status == Int(status.code))
        #expect(body.type.hasPrefix("https://tessera.dev/problems/"))
        return body
    }

    /// Runs `body` against the real application on a migrated throw-away database.
    static func withApp(
        migrated: Bool = true, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await TestDatabase.withFresh(migrated: migrated) { settings in
            let app = try buildApplication(settings: settings, logger: logger)
            try await app.test(.router, body)
        }
    }

    @Test func healthzAnswersAlive() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"ok\""))
            }
        }
    }

    @Test func readyzIs200WhenMigrated() async throws {
        try await Self.withApp { client in
            // Ready once the metadata database answers within /readyz's 2 s: under the whole suite's load on two
            // cores a fresh pool's first connection may take longer, and that is a 503 by design. Asked again.
            var last = ""
            try await waitUntil(timeout: .seconds(30)) {
                let response = try await client.execute(uri: "/readyz", method: .get)
                last = "\(response.status) \(String(buffer: response.body))"
                return response.status == .ok && last.contains("\"ready\"")
            }
            #expect(last.contains("\"ready\""), "\(last)")
        }
    }

    @Test func readyzIs503WithPendingMigrations() async throws {
        try await Self.withApp(migrated: false) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                let problem = try Self.problem(response, status: .serviceUnavailable)
                #expect(problem.detail.contains("pending"))
                #expect(problem.detail.contains("0001_metadata_v1.sql"))
            }
        }
    }

    @Test func readyzIs503WhenTheDatabaseIsDown() async throws {
        var settings = try TestDatabase.settings(database: "tessera_meta")
        settings.database.port = 1  // nothing listens there
        let app = try buildApplication(settings: settings, logger: Self.logger)
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                let problem = try Self.problem(response, status: .serviceUnavailable)
                #expect(problem.detail.contains("metadata database"))
            }
            // Liveness does not depend on the database.
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func unknownRouteIsProblem404WithRequestID() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                let problem = try Self.problem(response, status: .notFound)
                let id = try #require(response.headers[.requestID])
                #expect(problem.request_id == id)
            }
        }
    }

    @Test func clientRequestIDIsHonoured() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/healthz", method: .get, headers: [.requestID: "abc-123"]) { response in
                #expect(response.headers[.requestID] == "abc-123")
            }
            // An unacceptable id (control characters, too long) is replaced.
            try await client.execute(
                uri: "/healthz", method: .get, headers: [.requestID: String(repeating: "x", count: 200)]
            ) { response in
                #expect(response.headers[.requestID]?.count == 36)
            }
            // A made id: a lower-case version 4 UUID, a new one each request.
            var made = Set<String>()
            for _ in 0..<50 {
                try await client.execute(uri: "/healthz", method: .get) { response in
                    let id = try #require(response.headers[.requestID])
                    #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
                    let version = id[id.index(id.startIndex, offsetBy: 14)]
                    let variant = id[id.index(id.startIndex, offsetBy: 19)]
                    #expect(version == "4" && "89ab".contains(variant), "\(id)")
                    made.insert(id)
                }
            }
            #expect(made.count == 50)
        }
    }

    @Test func wrongMethodIsProblem405WithAllow() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/healthz", method: .delete) { response in
                _ = try Self.problem(response, status: .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
        }
    }

    @Test func twoMegabytePostIsProblem413BeforeRouting() async throws {
        try await Self.withApp { client in
            let body = ByteBuffer(repeating: 0x61, count: 2 * 1024 * 1024)
            for uri in ["/nope", "/healthz"] {
                try await client.execute(uri: uri, method: .post, body: body) { response in
                    let problem = try Self.problem(response, status: .contentTooLarge)
                    #expect(problem.detail.contains("1048576"))
                }
            }
        }
    }

    @Test func openAPIDocumentIsServedAsOpenAPI31() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(json?["openapi"] as? String == "3.1.0")
                let paths = try #require(json?["paths"] as? [String: Any])
                #expect(paths["/readyz"] != nil)
                #expect(paths["/healthz"] != nil)
            }
        }
    }

    @Test func routeTableTellsMethodsOfTemplates() {
        let table = RouteTable(templates: [("/v1/orgs/{org}", ["GET", "DELETE"]), ("/v1/orgs", ["POST"])])
        #expect(table.allowedMethods(for: "/v1/orgs/abc") == ["DELETE", "GET"])
        #expect(table.allowedMethods(for: "/v1/orgs") == ["POST"])
        #expect(table.allowedMethods(for: "/v1/orgs/abc/x") == nil)
    }
}

/// The body limit while streaming (no Content-Length): a live server and curl with chunked encoding.
@Suite struct StreamingBodyLimitTests {
    @Test func chunkedBodyOverTheLimitIs413() async throws {
        var settings = try TestDatabase.settings(database: "unused")
        settings.http.maxBodyBytes = 1000
        let router = Router(context: AppRequestContext.self)
        addRequestChain(to: router, settings: settings, routes: RouteTable(templates: []))
        router.post("/echo-size") { request, context -> String in
            var request = request
            let body = try await request.collectBody(upTo: .max)
            return "\(body.readableBytes)"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let small = try curlChunked(port: port, bytes: 500)
            #expect(small.status == 200)
            #expect(small.body == "500")
            let big = try curlChunked(port: port, bytes: 5000)
            #expect(big.status == 413)
            #expect(big.body.contains("payload-too-large"))
        }
    }

    func curlChunked(port: Int, bytes: Int) throws -> (status: Int, body: String) {
        let file = NSTemporaryDirectory() + "tessera-body-\(UUID().uuidString)"
        try Data(repeating: 0x62, count: bytes).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", "Transfer-Encoding: chunked",
            "-H", "Content-Type: application/octet-stream", "--data-binary", "@\(file)",
            "http://127.0.0.1:\(port)/echo-size",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? -1, lines.dropLast().joined(separator: "\n"))
    }
}
