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

    /// Members and keys changed from the CLI go through the API's rules (no unknown role, the last owner
    /// stays) and leave the API's records with the command line as the actor; `admin bootstrap` is recorded
    /// too; and a CLI without the master key refuses to make one while secrets sealed under another exist.
    @Test func memberAndKeyCommandsAreValidatedAndAuditedLikeTheAPI() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await TestDatabase.prepareTenants(settings)
            let created = try await Self.tessera(
                ["org", "create", "--name", "Keys Org", "--owner-email", "owner@example.com"], settings)
            #expect(created.status == 0, "\(created.stderr)")
            let org = try #require(
                created.stdout.split(separator: " ").dropFirst().first.flatMap { UUID(uuidString: String($0)) })
            let id = org.uuidString

            let unknownRole = try await Self.tessera(
                ["member", "add", id, "bob@example.com", "--role", "wizard"], settings)
            #expect(unknownRole.status != 0 && unknownRole.stderr.contains("no role named 'wizard'"))
            let added = try await Self.tessera(["member", "add", id, "bob@example.com", "--role", "viewer"], settings)
            #expect(added.status == 0 && added.stdout.contains("an invitation is queued for mail"), "\(added)")
            #expect(TestMail.tokens(in: added.stdout + added.stderr).isEmpty)
            #expect(try await TestMail.invitationToken(for: "bob@example.com", settings).hasPrefix("tss_"))
            let promoted = try await Self.tessera(
                ["member", "roles", id, "bob@example.com", "--role", "admin"], settings)
            #expect(promoted.status == 0 && promoted.stdout.contains("now has admin"), "\(promoted)")
            let lastOwner = try await Self.tessera(["member", "remove", id, "owner@example.com"], settings)
            #expect(lastOwner.status != 0 && lastOwner.stderr.contains("last owner"), "\(lastOwner)")
            let listed = try await Self.tessera(["member", "list", id], settings)
            #expect(listed.stdout.contains("bob@example.com  admin") && listed.stdout.contains("owner@example.com"))

            let issued = try await Self.tessera(["key", "create", id, "--name", "ci", "--role", "editor"], settings)
            #expect(issued.status == 0, "\(issued.stderr)")
            let lines = issued.stdout.split(separator: "\n")
            let keyID = try #require(lines.first?.split(separator: " ").dropFirst().first.map(String.init))
            let plaintext = try #require(lines.last.map(String.init))
            #expect(APIKey.parse(plaintext) != nil)
            let keys = try await Self.tessera(["key", "list", id], settings)
            #expect(keys.stdout.contains(keyID) && !keys.stdout.contains(plaintext))
            let revoked = try await Self.tessera(["key", "revoke", id, keyID], settings)
            #expect(revoked.status == 0 && revoked.stdout.contains("revoked"), "\(revoked)")
            let bootstrapped = try await Self.tessera(["admin", "bootstrap"], settings)
            #expect(bootstrapped.status == 0, "\(bootstrapped.stderr)")

            let user = String(cString: getpwuid(getuid())!.pointee.pw_name)
            let records = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    """
                    SELECT action, actor_display, metadata->>'source' FROM audit_logs
                    WHERE action IN ('member.add', 'member.update', 'member.remove', 'api_key.create', 'api_key.revoke',
                                     'platform_admin.bootstrap')
                    ORDER BY occurred_at
                    """, logger: TestDatabase.logger
                ).collect().map { try $0.decode((String, String?, String?).self) }
            }
            #expect(
                records.map(\.0) == [
                    "member.add", "member.update", "api_key.create", "api_key.revoke", "platform_admin.bootstrap",
                ], "\(records)")
            #expect(records.allSatisfy { $0.1 == "cli:\(user)" && $0.2 == "cli" }, "\(records)")

            // Without the master key, the CLI makes none while the org's password is sealed under one.
            let keyFile = "\(settings.paths.dataDir)/master-key"
            try? FileManager.default.removeItem(atPath: keyFile)
            let keyless = try await Self.tessera(["org", "list"], settings, environment: ["TESSERA_MASTER_KEY": ""])
            #expect(keyless.status != 0 && keyless.stderr.contains("sealed under one"), "\(keyless)")
            #expect(!FileManager.default.fileExists(atPath: keyFile))
        }
    }

    /// Runs the built `tessera` with `arguments` against the test's database; its exit status and output.
    static func tessera(_ arguments: [String], _ settings: Settings, environment: [String: String] = [:]) async throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let process = TestDatabase.tesseraProcess(arguments, settings, environment: environment)
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
