import Foundation
import PostgresNIO
import Synchronization
import TesseraCore
import TesseraPostgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `tessera` CLI changes orgs through the same use cases as the API: the same validation, and an audit
/// record for every change, naming the command line and the OS user as the actor.
@Suite struct CommandLineTests {
    @Test func orgCommandsAreValidatedAndAuditedLikeTheAPI() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await TestDatabase.prepareTenants(settings)
            let refused = try await Self.tessera(
                ["org", "create", "--name", "Mail", "--owner-email", "nobody@nowhere"], settings)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("is not an email address"), "\(refused.stderr)")

            let created = try await Self.tessera(["org", "create", "--name", "CLI Org"], settings)
            #expect(created.status == 0, "\(created.stderr)")
            let id = try #require(
                created.stdout.split(separator: " ").dropFirst().first.flatMap { UUID(uuidString: String($0)) })
            let suspended = try await Self.tessera(["org", "delete", id.uuidString], settings)
            #expect(suspended.status == 0, "\(suspended.stderr)")
            let again = try await Self.tessera(["org", "retry", id.uuidString], settings)
            #expect(
                again.status != 0 && again.stderr.contains("only a failed provisioning can be retried"),
                "\(again.stderr)")

            let records = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                connection in
                try await connection.query(
                    """
                    SELECT action, actor_kind::text, actor_display, metadata->>'source', user_agent FROM audit_logs
                    WHERE org_id = \(id) AND action IN ('org.create', 'org.suspend') ORDER BY seq
                    """, logger: TestDatabase.logger
                ).collect().map { try $0.decode((String, String, String?, String?, String?).self) }
            }
            let drained = try await Self.tessera(["server", "drain", "local"], settings)
            #expect(drained.status == 0, "\(drained.stderr)")
            let serverRecords = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    """
                    SELECT actor_display, metadata->>'source' FROM audit_logs
                    WHERE org_id IS NULL AND action = 'database_server.drain' AND entity_id = 'local'
                    """, logger: TestDatabase.logger
                ).collect().map { try $0.decode((String?, String?).self) }
            }
            let user = String(cString: getpwuid(getuid())!.pointee.pw_name)
            #expect(
                serverRecords.count == 1 && serverRecords.first?.0 == "cli:\(user)" && serverRecords.first?.1 == "cli")
            #expect(records.map(\.0) == ["org.create", "org.suspend"])
            for record in records {
                #expect(
                    record.1 == "system" && record.2 == "cli:\(user)" && record.3 == "cli" && record.4 == "tessera-cli",
                    "\(record)")
            }
        }
    }

    /// Runs the built `tessera` with `arguments` against the test's database; its exit status and output.
    static func tessera(_ arguments: [String], _ settings: Settings) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = TestDatabase.tesseraProcess(arguments, settings)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end on threads of their own (a full pipe would stall the child), then wait.
        let (stdout, stderr) = await withCheckedContinuation { (done: CheckedContinuation<(Data, Data), Never>) in
            Thread.detachNewThread {
                let stderrData = Mutex(Data())
                let reader = Thread(block: {
                    stderrData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() }
                })
                reader.start()
                let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                while !reader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
                done.resume(returning: (stdoutData, stderrData.withLock { $0 }))
            }
        }
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }
}
