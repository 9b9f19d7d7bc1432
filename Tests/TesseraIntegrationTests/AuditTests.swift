import Foundation
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore

@Suite struct AuditLogTests {
    static let logger = TestDatabase.logger

    func event(_ org: UUID?, _ i: Int) -> AuditEvent {
        AuditEvent(
            org: org, actorKind: .system, actorDisplay: "test", action: .datasetCreate, entityType: "dataset",
            entityID: "\(i)",
            requestID: "r\(i)", clientIP: "127.0.0.1", userAgent: "ua\n\"quoted\"",
            metadata: ["i": "\(i)", "ünï": "cødé"])
    }

    @Test func theDatabaseChainsConcurrentAppendsPerOrgWithoutGapsOrForks() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let orgs: [UUID?] = [UUID(), UUID(), nil]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                            for i in 0..<10 {
                                try await AuditStore(logger: Self.logger).append(
                                    self.event(orgs[worker % 3], worker * 100 + i), on: connection)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for org in orgs {
                    #expect(
                        try await AuditStore(logger: Self.logger).verify(org: org, on: connection) == .intact(count: 20)
                    )
                }
                // The same event id twice is one record.
                let again = event(orgs[0], 0)
                try await AuditStore(logger: Self.logger).append(again, on: connection)
                try await AuditStore(logger: Self.logger).append(again, on: connection)
                #expect(
                    try await AuditStore(logger: Self.logger).verify(org: orgs[0], on: connection) == .intact(count: 21)
                )
            }
        }
    }

    /// (queued, chained): how many of the records wait in `audit_pending` and how many are in `audit_logs`.
    static func placement(_ records: [AuditEvent], in client: PostgresClient) async throws -> (Int, Int) {
        try await placement(records.map(\.eventID), in: client)
    }

    static func placement(_ eventIDs: [UUID], in client: PostgresClient) async throws -> (Int, Int) {
        try await client.query(
            """
            SELECT (SELECT count(*)::int FROM audit_pending WHERE event_id = ANY(\(eventIDs))),
                   (SELECT count(*)::int FROM audit_logs WHERE event_id = ANY(\(eventIDs)))
            """, logger: logger
        ).collect()[0].decode((Int, Int).self)
    }

    /// Takes (`hold`) or gives back the org's chain lock on `holder`, as another transaction chaining it would hold it.
    static func holdChain(_ org: UUID, _ hold: Bool, on holder: PostgresConnection) async throws {
        if hold {
            _ = try await holder.query("SELECT pg_advisory_lock(7301, hashtext(\(org)::uuid::text))", logger: logger)
                .collect()
        } else {
            _ = try await holder.query("SELECT pg_advisory_unlock(7301, hashtext(\(org)::uuid::text))", logger: logger)
                .collect()
        }
    }

    /// A fresh migrated metadata database and a running pool to it, logged in as the gateway.
    static func withGatewayClient(_ body: (PostgresClient) async throws -> Void) async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let client = PostgresClient(
                configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: logger)
            let runner = Task { await client.run() }
            defer { runner.cancel() }
            try await body(client)
        }
    }

    /// Changes to the metadata database queue their records and chain them after commit: concurrent changes to
    /// one org keep one unbroken chain, every record is in `audit_logs` when its change returns, nothing waits.
    @Test func auditedChangesAreChainedBeforeTheyReturnAndConcurrentOnesKeepOneChain() async throws {
        try await Self.withGatewayClient { client in
            let org = UUID()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        for i in 0..<10 {
                            let records = [self.event(org, worker * 100 + i), self.event(nil, worker * 100 + i)]
                            try await client.auditedChange(logger: Self.logger) { _, trail in
                                for record in records { try await trail.append(record) }
                            }
                            let chained = try await client.query(
                                "SELECT count(*) FROM audit_logs WHERE event_id = ANY(\(records.map(\.eventID)))",
                                logger: Self.logger
                            ).collect().first?.decode(Int.self)
                            #expect(chained == 2)
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await client.withConnection { connection in
                #expect(
                    try await AuditStore(logger: Self.logger).verify(org: org, on: connection) == .intact(count: 60))
                #expect(
                    try await AuditStore(logger: Self.logger).verify(org: nil, on: connection) == .intact(count: 60))
                let waiting = try await connection.query("SELECT count(*) FROM audit_pending", logger: Self.logger)
                    .collect().first?.decode(Int.self)
                #expect(waiting == 0)
            }
            // A rolled-back change leaves no record, queued or chained.
            let dropped = event(org, 999)
            await #expect(throws: TesseraError.self) {
                try await client.auditedChange(logger: Self.logger) { _, trail in
                    try await trail.append(dropped)
                    throw TesseraError.conflict("no")
                }
            }
            let left = try await client.query(
                """
                SELECT (SELECT count(*) FROM audit_logs WHERE event_id = \(dropped.eventID))
                     + (SELECT count(*) FROM audit_pending WHERE event_id = \(dropped.eventID))
                """, logger: Self.logger
            ).collect().first?.decode(Int.self)
            #expect(left == 0)
        }
    }

    /// A change whose chain another transaction holds does not wait for it: it commits its record queued and chains
    /// it once the chain is free, before it returns.
    @Test func aChangeWhoseChainIsBusyCommitsItsRecordQueuedAndChainsItOnceFree() async throws {
        try await Self.withGatewayClient { client in
            let org = UUID()
            let record = event(org, 1)
            try await client.withConnection { holder in
                try await Self.holdChain(org, true, on: holder)
                let change = Task {
                    try await client.auditedChange(logger: Self.logger) { _, trail in try await trail.append(record) }
                }
                var seen = (0, 0)
                for _ in 0..<200 where seen == (0, 0) {
                    seen = try await Self.placement([record], in: client)
                    if seen == (0, 0) { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(seen == (1, 0), "committed queued while the chain is busy")
                try await Self.holdChain(org, false, on: holder)
                try await change.value
                let after = try await Self.placement([record], in: client)
                #expect(after == (0, 1), "chained once the chain is free")
            }
            let verified = try await client.withConnection {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            #expect(verified == .intact(count: 1))
        }
    }

    /// With the gateway's chainer running, a change whose chain is busy is answered at once, its record committed
    /// queued, and the chainer chains it once the chain is free; concurrent changes to one org keep one chain.
    @Test func aRunningChainerTakesOverABusyChainAndTheChangeIsAnsweredAtOnce() async throws {
        try await Self.withGatewayClient { client in
            let chainer = Task { try await AuditChainer(metadata: client, logger: Self.logger).run() }
            defer { chainer.cancel() }
            for _ in 0..<200 where !AuditChainer.isRunning(for: client) {
                try await Task.sleep(for: .milliseconds(5))
            }
            let org = UUID()
            let record = event(org, 1)
            func waitUntilChained(_ records: [AuditEvent]) async throws -> (Int, Int) {
                var seen = try await Self.placement(records, in: client)
                for _ in 0..<500 where seen != (0, records.count) {
                    try await Task.sleep(for: .milliseconds(10))
                    seen = try await Self.placement(records, in: client)
                }
                return seen
            }
            try await client.withConnection { holder in
                try await Self.holdChain(org, true, on: holder)
                try await client.auditedChange(logger: Self.logger) { _, trail in try await trail.append(record) }
                #expect(
                    try await Self.placement([record], in: client) == (1, 0),
                    "answered with its record queued, the chain busy")
                try await Self.holdChain(org, false, on: holder)
            }
            #expect(try await waitUntilChained([record]) == (0, 1), "chained by the chainer once the chain is free")

            let records = (0..<6).map { worker in (0..<10).map { event(org, 100 * (worker + 1) + $0) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in records {
                    group.addTask {
                        for record in worker {
                            try await client.auditedChange(logger: Self.logger) { _, trail in
                                try await trail.append(record)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await waitUntilChained(records.flatMap { $0 }) == (0, 60))
            let verified = try await client.withConnection {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            #expect(verified == .intact(count: 61))
        }
    }

    /// A change whose chain is free chains the records already waiting in it first, then its own, and leaves nothing
    /// queued; one whose chaining fails (here on a record the log's checks refuse) commits all its records queued
    /// instead and names the chain left waiting.
    @Test func aFreeChainTakesWhatWaitsFirstAndAFailedChainingQueuesInstead() async throws {
        try await Self.withGatewayClient { client in
            let org = UUID()
            let store = AuditStore(logger: Self.logger)
            try await client.withConnection { connection in
                for i in 0..<2 { try await store.queue([event(org, i)], chainIfFree: false, on: connection) }
                #expect(try await store.queue([event(org, 2), event(org, 3)], on: connection) == [])
                #expect(try await store.queuedCount(on: connection) == 0)
                #expect(try await store.verify(org: org, on: connection) == .intact(count: 4))
                let entities = try await connection.query(
                    "SELECT entity_id FROM audit_logs WHERE org_id = \(org) ORDER BY seq", logger: Self.logger
                ).collect().map { try $0.decode(String.self) }
                #expect(entities == ["0", "1", "2", "3"])

                let (good, bad) = (UUID(), UUID())
                let events = """
                    [{"event_id": "\(good)", "org_id": "\(org)", "actor_kind": "system", "action": "dataset.create",
                      "outcome": "succeeded"},
                     {"event_id": "\(bad)", "org_id": "\(org)", "actor_kind": "system", "action": "Not An Action",
                      "outcome": "succeeded"}]
                    """
                let left = try await connection.query(
                    "SELECT audit_queue(\(events)::jsonb, true)", logger: Self.logger
                ).collect()[0].decode([String].self)
                #expect(left == [org.uuidString.lowercased()])
                #expect(try await Self.placement([good, bad], in: client) == (2, 0))
                #expect(try await store.verify(org: org, on: connection) == .intact(count: 4))
            }
        }
    }

    /// Records a process queued and never chained (it stopped between the commit and the chaining) are chained by
    /// the sweep once they are older than its `age`, after what the chain already holds.
    @Test func recordsLeftQueuedAreChainedByTheSweep() async throws {
        try await Self.withGatewayClient { client in
            let org = UUID()
            let store = AuditStore(logger: Self.logger)
            try await client.withConnection { connection in
                for i in 0..<3 { try await store.append(event(org, i), on: connection) }
                for i in 3..<8 {
                    try await store.queue([event(i % 2 == 0 ? org : nil, i)], chainIfFree: false, on: connection)
                }
            }
            #expect(try await AuditChainer(metadata: client, age: .seconds(60), logger: Self.logger).sweep() == 0)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await AuditChainer(metadata: client, age: .milliseconds(50), logger: Self.logger).sweep() == 5)
            try await client.withConnection { connection in
                #expect(try await store.verify(org: org, on: connection) == .intact(count: 5))
                #expect(try await store.verify(org: nil, on: connection) == .intact(count: 3))
                let entities = try await connection.query(
                    "SELECT entity_id FROM audit_logs WHERE org_id = \(org) ORDER BY seq", logger: Self.logger
                ).collect().map { try $0.decode(String.self) }
                #expect(entities == ["0", "1", "2", "4", "6"])
            }
        }
    }

    /// A superuser can switch the append-only trigger off; the chain still shows what it did.
    @Test func aSuperusersUpdateOrDeleteIsDetected() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let org = UUID()
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for i in 0..<5 { try await AuditStore(logger: Self.logger).append(event(org, i), on: connection) }
            }
            try superuser(
                settings,
                """
                ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update_delete;
                UPDATE audit_logs SET entity_id = 'forged' WHERE org_id = '\(org)' AND seq = 3;
                """)
            let edited = try await settings.database.withConnection(as: .gateway, logger: Self.logger) {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            #expect(edited == .broken(seq: 3, reason: "record 3 was changed (its hash does not match its content)"))
            try superuser(settings, "DELETE FROM audit_logs WHERE org_id = '\(org)' AND seq = 3;")
            let removed = try await settings.database.withConnection(as: .gateway, logger: Self.logger) {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            #expect(removed == .broken(seq: 3, reason: "record 3 is missing (next is 4)"))
        }
    }

    /// The platform's chain (logins, authentication failures, orgs created) has retention too: purged through the
    /// same privileged path, with a signed anchor, and an org's chain beside it untouched.
    @Test func thePlatformChainIsPurgedWithAnAnchorToo() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let box = try TestDatabase.box(settings)
            let org = UUID()
            let store = AuditStore(logger: Self.logger)
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for i in 0..<4 { try await store.append(event(nil, i), on: connection) }
                for i in 0..<2 { try await store.append(event(org, i), on: connection) }
            }
            let outcome = try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await AuditRetention(box: box, logger: Self.logger).purge(
                    org: nil, olderThan: Date().addingTimeInterval(1), on: $0)
            }
            #expect(outcome == .purged(through: 4))
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                #expect(try await store.verify(org: nil, box: box, on: connection) == .intact(count: 1))
                try await store.append(event(nil, 9), on: connection)
                #expect(try await store.verify(org: nil, box: box, on: connection) == .intact(count: 2))
                #expect(try await store.verify(org: org, box: box, on: connection) == .intact(count: 2))
                let stranger = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
                let forged = try await store.verify(org: nil, box: stranger, on: connection)
                #expect(
                    forged == .broken(seq: 5, reason: "the anchor before record 5 has a wrong signature"), "\(forged)")
            }
        }
    }

    @Test func retentionPurgesOnlyThroughThePrivilegedPathAndTheRestStillVerifies() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let box = try TestDatabase.box(settings)
            let org = UUID()
            let store = AuditStore(logger: Self.logger)
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for i in 0..<5 { try await store.append(event(org, i), on: connection) }
                // The gateway's role cannot take the purge path.
                do {
                    try await connection.query("SET tessera.audit_purge = 'on'", logger: Self.logger)
                    try await connection.query("DELETE FROM audit_logs WHERE org_id = \(org)", logger: Self.logger)
                    Issue.record("the gateway role deleted audit records")
                } catch {
                    #expect(describeDatabaseError(error).contains("permission denied"))
                }
            }
            let outcome = try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await AuditRetention(box: box, logger: Self.logger).purge(
                    org: org, olderThan: Date().addingTimeInterval(1), on: $0)
            }
            #expect(outcome == .purged(through: 5))
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                #expect(try await store.verify(org: org, box: box, on: connection) == .intact(count: 1))  // the anchor
                for i in 5..<7 { try await store.append(event(org, i), on: connection) }
                #expect(try await store.verify(org: org, box: box, on: connection) == .intact(count: 3))
                // Without the master key's signature the anchor proves nothing.
                let stranger = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
                let forged = try await store.verify(org: org, box: stranger, on: connection)
                #expect(
                    forged == .broken(seq: 6, reason: "the anchor before record 6 has a wrong signature"), "\(forged)")
            }
            // A broken chain is never purged.
            let other = UUID()
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for i in 0..<3 { try await store.append(event(other, i), on: connection) }
            }
            try superuser(
                settings,
                """
                ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update_delete;
                UPDATE audit_logs SET entity_id = 'forged' WHERE org_id = '\(other)' AND seq = 2;
                """)
            let refused = try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await AuditRetention(box: box, logger: Self.logger).purge(
                    org: other, olderThan: Date().addingTimeInterval(1), on: $0)
            }
            guard case .refused = refused else {
                Issue.record("a broken chain was purged: \(refused)")
                return
            }
        }
    }

    /// Runs SQL as the cluster's superuser (provisioning/postgres psql).
    func superuser(_ settings: Settings, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(TestDatabase.root)/provisioning/postgres")
        process.arguments = ["psql", "-d", settings.database.name, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
