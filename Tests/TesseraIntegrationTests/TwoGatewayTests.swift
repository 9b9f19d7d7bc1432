import AsyncHTTPClient
import Foundation
import PostgresNIO
import Synchronization
import TesseraPostgres
import TesseraProvisioning
import Testing

@testable import TesseraCore

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Two real `tessera serve` processes on one database: a key revoked through one is refused by the
/// other within a second, although the other had just cached it.
@Suite struct TwoGatewayTests {
    @Test func revocationReachesEveryProcessWithinOneSecond() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let victim = fixture.adminA
            let first = try await Gateway.started(settings)
            defer { first.stop() }
            let second = try await Gateway.started(settings)
            defer { second.stop() }
            let list = "/v1/orgs/\(fixture.orgA)/api-keys"
            #expect(try await second.status("GET", list, key: victim.plaintext) == 200)  // now cached there
            let victimID = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await APIKeyStore(logger: TestDatabase.logger).credential(prefix: victim.prefix, on: $0)!.keyID
            }
            #expect(try await first.status("DELETE", "\(list)/\(victimID)", key: fixture.ownerA.plaintext) == 200)
            let revoked = ContinuousClock.now
            var status = 0
            while ContinuousClock.now - revoked < .seconds(1) {
                status = try await second.status("GET", list, key: victim.plaintext)
                if status == 401 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status == 401, "the second gateway still accepted the revoked key after 1 s")
        }
    }

    /// The last batch of key-use stamps is written at shutdown, not lost (they are batched every 5 s).
    @Test func keyUseIsRecordedAtShutdown() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let gateway = try await Gateway.started(settings)
            #expect(
                try await gateway.status("GET", "/v1/orgs/\(fixture.orgA)/api-keys", key: fixture.viewerA.plaintext)
                    == 403)
            #expect(try await gateway.status("GET", "/v1/auth/whoami", key: fixture.auditorA.plaintext) == 200)
            gateway.stop()  // SIGTERM well within the 5 s batch interval
            let stamped = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                connection in
                try await connection.query(
                    "SELECT count(*)::int FROM api_keys WHERE prefix = ANY(\([fixture.viewerA.prefix, fixture.auditorA.prefix])) AND last_used_at IS NOT NULL",
                    logger: TestDatabase.logger
                ).collect()[0].decode(Int.self)
            }
            #expect(stamped == 2)
        }
    }

    /// A `tessera serve` child process on a free port.
    final class Gateway: @unchecked Sendable {
        let process: Process
        let port: Int

        /// Starts a gateway and waits until it is ready, on another port if the one drawn was taken. With
        /// `standardError`, its log goes to that file instead of the test run's.
        static func started(
            _ settings: Settings, environment: [String: String] = [:], standardError: FileHandle? = nil
        ) async throws -> Gateway {
            for _ in 0..<5 {
                let gateway = try start(settings, environment: environment, standardError: standardError)
                do {
                    try await gateway.waitUntilUp()
                    return gateway
                } catch is PortTaken {
                    continue
                }
            }
            throw TesseraError.unavailable("no gateway came up on five ports")
        }

        struct PortTaken: Error {}

        /// A port below Linux's ephemeral range, so no outgoing connection holds it.
        static func start(
            _ settings: Settings, environment overrides: [String: String] = [:], standardError: FileHandle? = nil
        ) throws -> Gateway {
            let port = Int.random(in: 20_000..<32_000)
            // A long cache: only the notification can evict in time.
            var environment = [
                "TESSERA_HTTP_PORT": String(port), "TESSERA_AUTH_CACHE_SECONDS": "60",
                // Links the gateway makes (a provider's callback) lead back to it.
                "TESSERA_MAIL_PUBLIC_URL": "http://127.0.0.1:\(port)",
            ]
            environment.merge(overrides) { $1 }
            let process = TestDatabase.tesseraProcess(["serve"], settings, environment: environment)
            process.standardOutput = FileHandle.nullDevice
            if let standardError { process.standardError = standardError }
            try process.run()
            return Gateway(process: process, port: port)
        }

        init(process: Process, port: Int) {
            self.process = process
            self.port = port
        }

        func waitUntilUp() async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if (try? await status("GET", "/readyz", key: nil)) == 200 { return }
                if !process.isRunning { throw PortTaken() }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TesseraError.unavailable("gateway on port \(port) did not become ready")
        }

        func status(_ method: String, _ path: String, key: String?) async throws -> Int {
            try await call(method, path, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [], body: nil).0
        }

        /// A request to this gateway through AsyncHTTPClient with a deadline (30 s unless given): the status and the
        /// body. Not Foundation's URLSession: a wait for a gateway of these tests was seen to hang a whole run there
        /// once (2026-12-02, after a gateway had exited), and nothing bounded it.
        func call(
            _ method: String, _ path: String, headers: [(String, String)], body: Data?,
            timeout: TimeAmount = .seconds(30)
        ) async throws -> (Int, Data) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = .RAW(value: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            let data = try await response.body.collect(upTo: 1 << 24)
            return (Int(response.status.code), Data(data.readableBytesView))
        }

        func stop() {
            process.terminate()
            waitGone()
        }

        /// SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer would.
        func kill() {
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
            waitGone()
        }

        /// Waits (at most 60 s) until the process has exited, read from the process table (`/proc/<pid>/stat`: gone
        /// or a zombie), not from Foundation's exit notification: `waitUntilExit` on threads of the cooperative pool
        /// was seen to wait for ever for gateways that had exited (two at once in the suite, 2026-12-01), holding
        /// both of this machine's threads. A gateway stops within its shutdown bound, so the wait is short.
        func waitGone() {
            let pid = process.processIdentifier
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return }  // gone (reaped)
                let state = stat[stat.index(after: close)...].split(separator: " ").first
                if state == "Z" || state == "X" { return }
                usleep(10_000)
            }
        }

        func send(_ method: String, _ path: String, key: String, contentType: String, body: Data) async throws -> (
            Int, Data
        ) {
            try await call(
                method, path, headers: [("Authorization", "Bearer \(key)"), ("Content-Type", contentType)], body: body)
        }

        func post(_ path: String, key: String, json: String) async throws -> (Int, Data) {
            try await send("POST", path, key: key, contentType: "application/json", body: Data(json.utf8))
        }
    }
}

/// A gateway killed with SIGKILL while it provisions an org, at several moments: restarted, it finishes the
/// org, and exactly one database and one role exist for it.
@Suite struct CrashRecoveryTests {
    @Test func provisioningSurvivesSIGKILL() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.prepareTenants(settings)
            let platform = try await AccessFixture.platformKey(settings)
            for (i, delay) in [0, 40, 90, 160, 260].enumerated() {
                let first = try await TwoGatewayTests.Gateway.started(settings)
                let (status, data) = try await first.post(
                    "/v1/orgs", key: platform.plaintext, json: #"{"name":"crash \#(i)"}"#)
                #expect(status == 202)
                struct Created: Decodable {
                    struct Org: Decodable { let id: String }
                    let org: Org
                }
                let org = try UUID(uuidString: JSONDecoder().decode(Created.self, from: data).org.id).unwrap()
                try await Task.sleep(for: .milliseconds(delay))
                first.kill()
                let second = try await TwoGatewayTests.Gateway.started(settings)
                defer { second.stop() }
                var state: String?
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    state = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                        try await OrgStore(logger: TestDatabase.logger).get(org, on: $0)?.status.rawValue
                    }
                    if state == "ready" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(state == "ready", "killed after \(delay) ms")
                let name = OrgDatabaseName(org: org).value
                let counts = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                    connection in
                    (
                        try await connection.query(
                            "SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: TestDatabase.logger
                        ).collect()[0].decode(Int.self),
                        try await connection.query(
                            "SELECT count(*)::int FROM pg_roles WHERE rolname = \(name)", logger: TestDatabase.logger
                        ).collect()[0].decode(Int.self)
                    )
                }
                #expect(counts.0 == 1 && counts.1 == 1, "killed after \(delay) ms")
            }
        }
    }
}

/// A gateway killed with SIGKILL while it imports rows: the import is all or nothing — after a restart the dataset
/// holds every row or none, its row count says the same, and a committed import has its audit record once.
@Suite struct ImportCrashTests {
    @Test func aBulkImportKilledMidwayLeavesAllOrNothing() async throws {
        try await TenantEnv.with { env in
            let settings = env.settings
            let platform = try await AccessFixture.platformKey(settings)
            let org = try await env.provisioned("import-crash")
            let rows = 60_000
            let body = Data(
                (0..<rows).map { #"{"content":{"text":"row \#($0) of a long import"},"expected_prediction":"x"}"# }
                    .joined(separator: "\n").utf8)
            let logger = TestDatabase.logger
            func counts(_ dataset: String) async throws -> (rows: Int, rowCount: Int) {
                try await settings.database.withConnection(
                    as: .admin, database: OrgDatabaseName(org: org).value, logger: logger
                ) { connection in
                    let id = try UUID(uuidString: dataset).unwrap()
                    return try await connection.query(
                        """
                        SELECT (SELECT count(*)::int FROM rows WHERE dataset_id = \(id)),
                               (SELECT row_count FROM datasets WHERE id = \(id))
                        """, logger: logger
                    ).collect()[0].decode((Int, Int).self)
                }
            }
            func audited(_ dataset: String) async throws -> Int {
                try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                    try await connection.query(
                        "SELECT count(*)::int FROM audit_logs WHERE action = 'rows.import' AND entity_id = \(dataset)",
                        logger: logger
                    ).collect()[0].decode(Int.self)
                }
            }
            var killedMidway = 0
            for delay in [150, 500, 1_000, 2_000, 3_500] {
                let first = try await TwoGatewayTests.Gateway.started(settings)
                let (created, data) = try await first.post(
                    "/v1/orgs/\(org)/datasets", key: platform.plaintext,
                    json: #"{"name":"d\#(delay)","fields":["text"]}"#)
                #expect(created == 201)
                struct Created: Decodable { let id: String }
                let dataset = try JSONDecoder().decode(Created.self, from: data).id
                let answered = Mutex(false)
                let upload = Task {
                    _ = try? await first.send(
                        "POST", "/v1/orgs/\(org)/datasets/\(dataset)/rows", key: platform.plaintext,
                        contentType: "application/x-ndjson", body: body)
                    answered.withLock { $0 = true }
                }
                try await Task.sleep(for: .milliseconds(delay))
                if !answered.withLock({ $0 }) { killedMidway += 1 }
                first.kill()
                _ = await upload.value
                let second = try await TwoGatewayTests.Gateway.started(settings)
                defer { second.stop() }
                let (stored, rowCount) = try await counts(dataset)
                #expect(stored == rowCount, "killed after \(delay) ms: \(stored) rows, row_count \(rowCount)")
                #expect(stored == 0 || stored == rows, "killed after \(delay) ms: \(stored) rows")
                if stored == rows {
                    // The committed import's record reaches the log through the restarted gateway's relay, once.
                    try await waitUntil(timeout: .seconds(10)) { try await audited(dataset) >= 1 }
                    #expect(try await audited(dataset) == 1)
                } else {
                    #expect(try await audited(dataset) == 0)
                }
            }
            #expect(killedMidway >= 1, "every import finished before its kill: nothing was interrupted")
        }
    }
}

extension Optional {
    func unwrap() throws -> Wrapped {
        guard let self else { throw TesseraError.internalError }
        return self
    }
}

/// A tenant change commits with its outbox event, the gateway is killed before its relay delivered the event,
/// and a restarted gateway delivers it: the record appears exactly once.
@Suite struct RelayCrashTests {
    @Test func aTenantAuditEventSurvivesSIGKILLBeforeTheRelay() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.prepareTenants(settings)
            let platform = try await AccessFixture.platformKey(settings)
            let logger = TestDatabase.logger
            let client = PostgresClient(
                configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: logger)
            let runner = Task { await client.run() }
            defer { runner.cancel() }
            let org = try await client.withConnection {
                try await OrgStore(logger: logger).create(
                    slug: "relay", name: "relay", owner: nil, server: nil, on: $0)!.id
            }
            try await Provisioner(
                metadata: client, box: try TestDatabase.box(settings), settings: settings, logger: logger
            ).provision(org)
            // The relay cannot append while the gateway's role may not insert into the log: the event waits in the outbox.
            func grant(_ on: Bool) async throws {
                try await settings.database.withConnection(as: .admin, logger: logger) {
                    try await $0.query(
                        PostgresQuery(
                            unsafeSQL: on
                                ? "GRANT INSERT ON audit_logs TO tessera_app"
                                : "REVOKE INSERT ON audit_logs FROM tessera_app"),
                        logger: logger)
                }
            }
            let first = try await TwoGatewayTests.Gateway.started(settings)
            try await grant(false)
            let (status, _) = try await first.post(
                "/v1/orgs/\(org)/datasets", key: platform.plaintext, json: #"{"name":"d"}"#)
            #expect(status == 201)
            try await Task.sleep(for: .milliseconds(200))
            first.kill()
            try await grant(true)
            func recorded() async throws -> Int {
                try await client.withConnection { connection in
                    try await connection.query(
                        "SELECT count(*)::int FROM audit_logs WHERE org_id = \(org) AND action = 'dataset.create'",
                        logger: logger
                    ).collect()[0].decode(Int.self)
                }
            }
            #expect(try await recorded() == 0)
            let second = try await TwoGatewayTests.Gateway.started(settings)
            defer { second.stop() }
            try await waitUntil(timeout: .seconds(10)) { try await recorded() == 1 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await recorded() == 1)
        }
    }
}
