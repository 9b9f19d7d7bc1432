import Foundation
import PostgresNIO
import TesseraMail
import TesseraPostgres
import Testing

@testable import TesseraCore

/// Mail leaves through the outbox and a real SMTP server (aiosmtpd, started by each test on 127.0.0.1): over
/// STARTTLS with a login, and through servers that refuse, fail for now, or drop the connection — a message
/// is retried until it goes, failed only on a permanent refusal, and never lost.
@Suite struct MailTests {
    static let logger = TestDatabase.logger

    @Test func mailGoesOutOverSTARTTLSWithALogin() async throws {
        try await TenantEnv.with { env in
            let tls = try Self.certificate()
            defer { try? FileManager.default.removeItem(atPath: (tls.cert as NSString).deletingLastPathComponent) }
            try await SMTPServer.with(["--tls", tls.cert, tls.key, "--require-tls", "--auth", "mailer:s3cret-pass"]) {
                server in
                let transport = try SMTPTransport(
                    SMTPConfiguration(
                        host: "localhost", port: server.port, tls: .required, username: "mailer",
                        password: Secret("s3cret-pass"), caFile: tls.cert))
                let id = try await Self.queue(env, body: "Hello Ünïcode\n.a line that starts with a dot\n")
                let sent = try await Self.delivery(env, transport).deliverDue()
                let afterwards = try await Self.state(env, id)
                #expect(sent == 1, "\(afterwards)")
                let received = try server.messages()
                #expect(received.count == 1)
                let message = try #require(received.first)
                #expect(message.contains("X-Test-TLS: yes"))
                #expect(message.contains("X-Test-Envelope-To: someone@example.test"))
                #expect(message.contains("Content-Transfer-Encoding: base64"))
                let state = try await Self.state(env, id)
                #expect(state.status == "sent" && state.attempts == 1, "\(state)")
                #expect(try await Self.actions(env) == ["mail.queue", "mail.send"])
                // A wrong password is the server's refusal (535): given up at once.
                let wrong = try SMTPTransport(
                    SMTPConfiguration(
                        host: "localhost", port: server.port, tls: .required, username: "mailer",
                        password: Secret("wrong"), caFile: tls.cert))
                let second = try await Self.queue(env, body: "again")
                #expect(try await Self.delivery(env, wrong).deliverDue() == 0)
                #expect(try await Self.state(env, second).status == "failed")
            }
        }
    }

    @Test func aRefusalFailsAtOnceAnOutageIsRetriedAndNothingIsLost() async throws {
        try await TenantEnv.with { env in
            // A permanent refusal (550): failed after one attempt, with its record.
            let refused = try await Self.queue(env, body: "refused")
            try await SMTPServer.with(["--mode", "refuse"]) { server in
                let transport = try SMTPTransport(SMTPConfiguration(host: "127.0.0.1", port: server.port, tls: .off))
                #expect(try await Self.delivery(env, transport).deliverDue() == 0)
            }
            let failed = try await Self.state(env, refused)
            #expect(failed.status == "failed" && failed.attempts == 1 && failed.error?.contains("550") == true)
            #expect(try await Self.actions(env).contains("mail.fail"))

            // A server that fails for now (451), one that drops the connection, one without the STARTTLS this
            // client requires: each time the message waits for another try.
            let kept = try await Self.queue(env, body: "kept")
            for (arguments, tls) in [
                (["--mode", "tempfail"], SMTPConfiguration.TLSMode.off), (["--mode", "drop"], .off),
                (["--mode", "accept"], .required),
            ] {
                try await SMTPServer.with(arguments) { server in
                    let transport = try SMTPTransport(SMTPConfiguration(host: "127.0.0.1", port: server.port, tls: tls))
                    try await Self.makeDue(env, kept)
                    #expect(try await Self.delivery(env, transport).deliverDue() == 0)
                    #expect(try server.messages().isEmpty)
                }
                let waiting = try await Self.state(env, kept)
                #expect(waiting.status == "pending" && waiting.retryIn > 0, "\(arguments): \(waiting)")
            }
            // Once a server takes it, it goes (the fourth attempt), once.
            try await SMTPServer.with([]) { server in
                let transport = try SMTPTransport(SMTPConfiguration(host: "127.0.0.1", port: server.port, tls: .off))
                try await Self.makeDue(env, kept)
                #expect(try await Self.delivery(env, transport).deliverDue() == 1)
                #expect(try await Self.delivery(env, transport).deliverDue() == 0)
                #expect(try server.messages().count == 1)
            }
            let sent = try await Self.state(env, kept)
            #expect(sent.status == "sent" && sent.attempts == 4, "\(sent)")
        }
    }

    @Test func aPasswordIsNeverSentInClear() throws {
        #expect(throws: SMTPError.self) {
            try SMTPClient(
                SMTPConfiguration(
                    host: "127.0.0.1", port: 25, tls: .off, username: "u", password: Secret("p")))
        }
    }

    // MARK: helpers

    static func delivery(_ env: TenantEnv, _ transport: any MailTransport) -> MailDelivery {
        MailDelivery(
            metadata: env.client, box: env.box, transport: transport, sender: "Tessera <tessera@example.test>",
            maxAttempts: 8, retryBase: .seconds(5), logger: logger)
    }

    /// Queues a message to someone@example.test as a change would, with its record.
    static func queue(_ env: TenantEnv, body: String) async throws -> UUID {
        let mail = OutgoingMail(
            kind: "test", org: nil, user: nil, recipient: "someone@example.test", subject: "A test", body: body)
        try await env.client.auditedChange(logger: logger) { connection, trail in
            try await MailStore(box: env.box, logger: logger).enqueue(mail, on: connection)
            try await trail.append(
                AuditActor(kind: .system, display: "test").event(
                    org: nil, action: .mailQueue, entityType: "mail", entityID: mail.id.uuidString.lowercased()))
        }
        return mail.id
    }

    static func makeDue(_ env: TenantEnv, _ id: UUID) async throws {
        try await env.client.withConnection {
            try await $0.query("UPDATE mail_outbox SET next_attempt_at = now() WHERE id = \(id)", logger: logger)
        }
    }

    struct State: Sendable, CustomStringConvertible {
        let status: String
        let attempts: Int
        let retryIn: Double
        let error: String?
        var description: String { "\(status), \(attempts) attempts, retry in \(retryIn) s, \(error ?? "-")" }
    }

    static func state(_ env: TenantEnv, _ id: UUID) async throws -> State {
        try await env.client.withConnection {
            let row = try await $0.query(
                """
                SELECT status::text, attempts, extract(epoch FROM next_attempt_at - now())::float8, last_error
                FROM mail_outbox WHERE id = \(id)
                """, logger: logger
            ).collect()[0]
            let (status, attempts, retryIn, error) = try row.decode((String, Int, Double, String?).self)
            return State(status: status, attempts: attempts, retryIn: retryIn, error: error)
        }
    }

    static func actions(_ env: TenantEnv) async throws -> [String] {
        try await env.client.withConnection {
            try await $0.query(
                "SELECT action FROM audit_logs WHERE action LIKE 'mail.%' ORDER BY seq", logger: logger
            ).collect().map { try $0.decode(String.self) }
        }
    }

    /// A self-signed certificate for `localhost` (and its key), made with openssl for this run.
    static func certificate() throws -> (cert: String, key: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-smtp-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (cert, key) = ("\(folder)/cert.pem", "\(folder)/key.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0)
        return (cert, key)
    }
}

/// provisioning/smtp-test-server, running for one test: its port, and the messages it took.
struct SMTPServer: Sendable {
    let port: Int
    let folder: String

    static func with(_ arguments: [String], _ body: (SMTPServer) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-smtp-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await ScriptServer.with("smtp-test-server", ["--out", folder] + arguments) { port in
            try await body(SMTPServer(port: port, folder: folder))
        }
    }

    func messages() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".eml") }.sorted().map {
            try String(contentsOfFile: "\(folder)/\($0)", encoding: .utf8)
        }
    }
}
