import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore
import TesseraPostgres
import TesseraProvisioning
import Testing

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real `tessera serve` whose metadata and org databases all live on the cluster provisioning/test
/// keeps for this test alone; readers go on while the cluster is stopped for 20 s and started again.
@Suite struct OutageTests {
    static let logger = TestDatabase.logger
    static let orgCount = 16
    static let deadline = Duration.milliseconds(1500)
    static let shutdownSeconds = 4

    @Test func everyRequestIsBoundedThroughADatabaseOutageAndEveryOrgAnswersAfterIt() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["TESSERA_TEST_OUTAGE_PORT"].flatMap(Int.init),
            let password = environment["TESSERA_TEST_OUTAGE_PASSWORD"],
            let adminPassword = environment["TESSERA_TEST_OUTAGE_ADMIN_PASSWORD"]
        else {
            Issue.record(
                "TESSERA_TEST_OUTAGE_* are not set: run the tests through provisioning/test, which starts that cluster")
            return
        }
        let name = "tessera_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var settings = try TestDatabase.settings(database: name)
        settings.database.port = port
        settings.database.password = Secret(password)
        settings.database.adminPassword = Secret(adminPassword)
        try await settings.database.withConnection(as: .admin, database: "postgres", logger: Self.logger) {
            connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: Self.logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "REVOKE CONNECT, TEMPORARY ON DATABASE \"\(name)\" FROM PUBLIC"),
                logger: Self.logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "GRANT CONNECT ON DATABASE \"\(name)\" TO tessera_app"), logger: Self.logger)
        }
        do {
            try await outage(settings)
        } catch {
            try? await Self.cluster("start")
            await TestDatabase.drop(name, settings: settings, metaName: "postgres")
            throw error
        }
        await TestDatabase.drop(name, settings: settings, metaName: "postgres")
    }

    func outage(_ settings: Settings) async throws {
        try await TestDatabase.migrate(settings)
        try await TestDatabase.prepareTenants(settings)
        let platform = try await AccessFixture.platformKey(settings)
        let orgs = try await Self.provision(Self.orgCount, settings)
        // Fewer connections than orgs: connections are closed and opened for other orgs during the outage.
        let gateway = try await TwoGatewayTests.Gateway.started(
            settings,
            environment: [
                "TESSERA_DB_PORT": String(settings.database.port),
                "TESSERA_DB_PASSWORD": settings.database.password!.value,
                "TESSERA_DB_ADMIN_PASSWORD": settings.database.adminPassword!.value,
                "TESSERA_TENANTS_MAX_CONNECTIONS": "6",
                "TESSERA_TENANTS_MAX_PER_ORG": "2",
                "TESSERA_TENANTS_DEADLINE_MS": String(
                    Self.deadline.components.seconds * 1000
                        + Int64(Self.deadline.components.attoseconds / 1_000_000_000_000_000)),
                "TESSERA_HTTP_SHUTDOWN_SECONDS": String(Self.shutdownSeconds),
            ])
        var stopped = false
        defer { if !stopped { gateway.stop() } }

        let readings = Readings()
        let readers = (0..<4).map { _ in
            Task {
                while !Task.isCancelled {
                    let org = orgs.randomElement()!
                    let (status, elapsed) = await gateway.timedGet(
                        "/v1/orgs/\(org)/datasets", key: platform.plaintext, timeout: 30)
                    if Task.isCancelled { break }  // the readers were stopped under it
                    readings.add(status: status, elapsed: elapsed)
                    if elapsed > Self.deadline + .seconds(2) {
                        Self.say("slow read of org \(org): \(status) after \(elapsed)")
                    }
                    try? await Task.sleep(for: .milliseconds(50))  // a steady load that leaves the other tests room
                }
            }
        }
        try await Task.sleep(for: .seconds(2))
        Self.say("stopping the cluster")
        try await Self.cluster("stop")
        let down = ContinuousClock.now
        try await Task.sleep(for: .seconds(20))
        Self.say("starting the cluster")
        try await Self.cluster("start")
        Self.say("started")
        let back = ContinuousClock.now
        try await waitUntil(timeout: .seconds(60)) { (try? await gateway.status("GET", "/readyz", key: nil)) == 200 }
        let ready = ContinuousClock.now
        Self.say("ready again")
        try await Task.sleep(for: .seconds(2))
        for reader in readers { reader.cancel() }
        for reader in readers { await reader.value }
        Self.say("readers stopped")

        // After the outage every org answers, one at a time, at the normal pace.
        var slowest = Duration.zero
        for org in orgs {
            let (status, elapsed) = await gateway.timedGet(
                "/v1/orgs/\(org)/datasets", key: platform.plaintext, timeout: 30)
            #expect(status == 200, "org \(org) answered \(status) after the outage")
            slowest = max(slowest, elapsed)
        }
        let seen = readings.summary
        Self.say(
            "down 20 s; ready \(ready - back) after restart; \(seen.count) reads during the run "
                + "(\(seen.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))), "
                + "longest \(seen.longest); after it, slowest of \(orgs.count) orgs \(slowest)")
        #expect(slowest < .milliseconds(500), "an org was slow after the outage: \(slowest)")
        #expect(
            seen.longest < Self.deadline + .seconds(2), "a request waited \(seen.longest) (deadline \(Self.deadline))")
        #expect(seen.statuses.keys.allSatisfy { [200, 503].contains($0) }, "statuses seen: \(seen.statuses)")
        #expect((seen.statuses[503] ?? 0) > 0, "the outage was not seen: \(seen.statuses)")
        _ = down

        // SIGTERM: the gateway that went through the outage exits within its shutdown bound.
        let signalled = ContinuousClock.now
        gateway.process.terminate()
        try await waitUntil(timeout: .seconds(Self.shutdownSeconds + 10)) { !gateway.process.isRunning }
        stopped = true
        let exited = ContinuousClock.now - signalled
        Self.say("exited \(exited) after SIGTERM")
        #expect(exited < .seconds(Self.shutdownSeconds), "shutdown took \(exited)")
    }

    /// A progress line on standard error (standard output is buffered until the run ends).
    static func say(_ line: String) {
        FileHandle.standardError.write(Data("outage test: \(line)\n".utf8))
    }

    /// Provisions `count` orgs straight through the provisioner.
    static func provision(_ count: Int, _ settings: Settings) async throws -> [UUID] {
        let client = PostgresClient(
            configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: logger)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        let provisioner = Provisioner(
            metadata: client, box: try TestDatabase.box(settings), settings: settings, logger: logger)
        var orgs: [UUID] = []
        for i in 0..<count {
            let org = try await client.withConnection {
                try await OrgStore(logger: logger).create(
                    slug: "outage-\(i)", name: "outage \(i)", owner: nil, server: nil, on: $0)!.id
            }
            try await provisioner.provision(org)
            orgs.append(org)
        }
        return orgs
    }

    /// `provisioning/postgres stop|start` on the outage cluster.
    static func cluster(_ command: String) async throws {
        let options = ProcessInfo.processInfo.environment["TESSERA_TEST_OUTAGE_PG_OPTIONS"] ?? ""
        let line =
            "cd '\(TestDatabase.root)' && env -u TESSERA_PG_PORT TESSERA_PG_CLUSTER=outage TESSERA_PG_OPTIONS='\(options)' "
            + "provisioning/postgres \(command) </dev/null >/dev/null 2>&1"
        // system() on a thread of its own: it blocks, and it waits for the script alone (Foundation's Process
        // has been seen to miss the end of a script whose child, the postmaster, lives on).
        let status = await withCheckedContinuation { (done: CheckedContinuation<Int32, Never>) in
            Thread.detachNewThread { done.resume(returning: system(line)) }
        }
        #expect(status == 0, "provisioning/postgres \(command) failed")
    }

    /// What the readers saw.
    final class Readings: Sendable {
        struct Summary {
            var count = 0
            var statuses: [Int: Int] = [:]
            var longest = Duration.zero
        }
        private let state = Mutex(Summary())

        func add(status: Int, elapsed: Duration) {
            state.withLock {
                $0.count += 1
                $0.statuses[status, default: 0] += 1
                $0.longest = max($0.longest, elapsed)
            }
        }

        var summary: Summary { state.withLock { $0 } }
    }
}

extension TwoGatewayTests.Gateway {
    /// GET through AsyncHTTPClient with a client deadline; the status (-1 when no answer came) and how long
    /// it took.
    func timedGet(_ path: String, key: String, timeout: TimeInterval) async -> (Int, Duration) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        let started = ContinuousClock.now
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            _ = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), ContinuousClock.now - started)
        } catch {
            if !Task.isCancelled { OutageTests.say("no answer for GET \(path): \(error)") }
            return (-1, ContinuousClock.now - started)
        }
    }
}
