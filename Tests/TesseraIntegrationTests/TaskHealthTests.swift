import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import TesseraPostgres
import TesseraProvisioning
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation
@testable import TesseraGateway

/// The health checker against a small HTTP server started by the test.
@Suite struct TaskHealthTests {
    static let logger = TestDatabase.logger

    enum Mode: Int { case healthy, failing, slow }

    @Test func servicesTurnUnhealthyAfterConsecutiveFailuresAndBack() async throws {
        let mode = Mutex(Mode.healthy)
        let router = Router()
        router.get("/health") { _, _ -> HTTPResponse.Status in
            switch mode.withLock({ $0 }) {
            case .healthy: return .ok
            case .failing: return .serviceUnavailable
            case .slow:
                try await Task.sleep(for: .seconds(10))
                return .ok
            }
        }
        try await Self.serving(router) { url in
            try await Self.withDefinition("health", configure: { _ in }) { env, calls, definition in
                let live = try await calls.create(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#)
                let dead = try await calls.create(
                    "/task-services",
                    #"{"task_definition_id":"\#(definition)","service_url":"http://127.0.0.1:1","health_path":"/up"}"#
                )
                #expect(
                    try await calls.post(
                        "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"ftp://x"}"#
                    ).status
                        == .unprocessableContent)
                #expect(
                    try await calls.post(
                        "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#
                    ).status
                        == .conflict)

                struct Service: Decodable {
                    let id: String
                    let health_status: String
                    let consecutive_failures: Int
                    let last_health_check: Date?
                    let last_error: String?
                }
                struct List: Decodable { let items: [Service] }
                func state() async throws -> [String: Service] {
                    let decoder = JSONDecoder()
                    decoder.dateDecodingStrategy = .iso8601
                    let list = try decoder.decode(
                        List.self, from: Data(buffer: try await calls.get("/task-services").body))
                    return Dictionary(uniqueKeysWithValues: list.items.map { ($0.id, $0) })
                }
                #expect(try await state()[live]?.health_status == "unknown")

                let checker = Self.checker(env, allowPrivate: true)
                #expect(await checker.sweep() == 2)
                var now = try await state()
                #expect(now[live]?.health_status == "healthy" && now[live]?.last_health_check != nil)
                // What is recorded is our category, not the remote's (or the library's) text.
                #expect(
                    now[dead]?.health_status == "unknown" && now[dead]?.consecutive_failures == 1
                        && now[dead]?.last_error == "connection refused", "\(String(describing: now[dead]))")
                await checker.sweep()
                #expect(try await state()[dead]?.health_status == "unhealthy")
                // The live one fails once (still healthy), times out (unhealthy), then answers again.
                mode.withLock { $0 = .failing }
                await checker.sweep()
                now = try await state()
                #expect(
                    now[live]?.health_status == "healthy" && now[live]?.consecutive_failures == 1
                        && now[live]?.last_error == "HTTP 503")
                mode.withLock { $0 = .slow }
                await checker.sweep()
                now = try await state()
                #expect(
                    now[live]?.health_status == "unhealthy" && now[live]?.last_error?.contains("no answer") == true,
                    "\(String(describing: now[live]))")
                mode.withLock { $0 = .healthy }
                await checker.sweep()
                #expect(try await state()[live]?.health_status == "healthy")
                // Each change of status was audited as the system.
                let changes = try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT entity_id, metadata->>'to' FROM audit_logs WHERE org_id = \(calls.org) AND action = 'task_service.health' ORDER BY seq",
                        logger: Self.logger
                    ).collect().map { try $0.decode((String, String).self) }
                }
                #expect(changes.map(\.1) == ["healthy", "unhealthy", "unhealthy", "healthy"])
                #expect(changes.map(\.0) == [live, dead, live, live])
                #expect(try await calls.send(.delete, "/task-services/\(dead)").status == .noContent)
            }
        }
    }

    /// A task service's URL is a tenant's input: private addresses are refused at registration unless allowed,
    /// a redirect is not followed, the remote's text is not recorded, and an org registers a bounded number.
    @Test func serviceURLsReachOnlyWhereAllowed() async throws {
        // Registration with private addresses refused: nothing stored. Health checks are off here (the first round
        // comes a day after start), so nothing would call these even if one slipped through.
        let refusePrivate: (inout Settings) -> Void = {
            $0.work.allowPrivateServices = false
            $0.work.healthIntervalSeconds = 86_400
        }
        try await Self.withDefinition("ssrf", configure: refusePrivate) { _, calls, definition in
            for url in [
                "http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8080", "http://10.0.0.7",
                "http://[::1]:80", "http://[::ffff:127.0.0.1]", "http://0.0.0.0", "https://192.168.1.1",
                "http://100.64.0.1", "http://[fe80::1]", "http://localhost:9", "http://user:pw@8.8.8.8",
            ] {
                let answer = try await calls.post(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#)
                #expect(answer.status == .unprocessableContent, "\(url): \(String(buffer: answer.body))")
            }
            #expect(String(buffer: try await calls.get("/task-services").body).contains(#""items":[]"#))
        }
        // Allowed (dev): a redirect is reported, not followed; the per-org cap holds.
        let hits = Mutex(0)
        let router = Router()
        router.get("/health") { _, _ -> HTTPResponse.Status in
            hits.withLock { $0 += 1 }
            return .ok
        }
        router.get("/moved") { _, _ -> Response in
            Response(status: .found, headers: [.location: "/health"])
        }
        try await Self.serving(router) { url in
            let twoServices: (inout Settings) -> Void = { $0.work.maxServicesPerOrg = 2 }
            try await Self.withDefinition("redirects", configure: twoServices) { env, calls, definition in
                let moved = try await calls.create(
                    "/task-services",
                    #"{"task_definition_id":"\#(definition)","service_url":"\#(url)","health_path":"/moved"}"#)
                _ = try await calls.create(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)/"}"#)
                let third = try await calls.post(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)/c"}"#)
                #expect(third.status == .conflict && String(buffer: third.body).contains("task_services"))
                let checker = Self.checker(env, allowPrivate: true)
                #expect(await checker.sweep() == 2)
                #expect(hits.withLock { $0 } == 1, "only the second service's own /health was called")
                let list = String(buffer: try await calls.get("/task-services").body)
                #expect(list.contains(#""last_error":"redirect (not followed)""#), "\(list)")
                #expect(list.contains(moved))
                // Checked with private addresses refused, the same service is not called at all.
                let strict = Self.checker(env, allowPrivate: false)
                #expect(await strict.sweep() == 2)
                #expect(hits.withLock { $0 } == 1)
                #expect(String(buffer: try await calls.get("/task-services").body).contains("address not public"))
            }
        }
    }

    /// A health checker on the test's metadata database: 1 s timeout, unhealthy after 2 failures.
    static func checker(_ env: TenantEnv, allowPrivate: Bool) -> TaskHealthChecker {
        TaskHealthChecker(
            // 4 s: a fresh clone's CI run, all suites at once, once kept a loopback answer past 1 s.
            metadata: env.client, interval: .seconds(60), timeout: .seconds(4), failures: 2,
            policy: OutboundPolicy(allowPrivate: allowPrivate), logger: Self.logger)
    }

    /// A provisioned org (settings tuned by `configure`), a task definition in it, and calls as a platform admin.
    static func withDefinition(
        _ slug: String, configure: @escaping (inout Settings) -> Void,
        _ body: @escaping @Sendable (TenantEnv, OrgCalls, String) async throws -> Void
    ) async throws {
        try await TenantEnv.with(configure: configure) { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned(slug)
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let definition = try await calls.create(
                    "/task-definitions",
                    #"{"task_id":"dock","version":"1.0.0","interface_spec":\#(JobAndPipelineTests.spec31)}"#)
                try await body(env, calls, definition)
            }
        }
    }

    /// `router` served on 127.0.0.1 (a task service for the checker) while `body` runs, with its base URL.
    static func serving(_ router: Router<BasicRequestContext>, _ body: (String) async throws -> Void) async throws {
        let port = Mutex(0)
        let server = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: Self.logger)
        let serving = Task { try await server.runService() }
        defer { serving.cancel() }
        try await waitUntil(timeout: .seconds(10)) { port.withLock { $0 } != 0 }
        try await body("http://127.0.0.1:\(port.withLock { $0 })")
    }
}
