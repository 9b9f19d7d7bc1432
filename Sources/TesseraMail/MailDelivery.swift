import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraPostgres

/// Sends what the mail outbox holds: every `pollInterval` (and at once when woken), claims the due messages,
/// delivers each through the transport and marks it sent, or failed with a retry after a doubling back-off
/// (`retryBase`, at most an hour) until `maxAttempts`; a permanent refusal (5xx) fails it at once. Each
/// message sent or given up leaves an audit record (`mail.send`, `mail.fail`) in its org's chain or the
/// platform's. Several gateways share the outbox: a claim leases its messages. Each database step waits at most
/// `passDeadline` (a claim that outlasts it ends the pass; a mark that does leaves the message to its lease).
public actor MailDelivery: Service {
    let metadata: PostgresClient
    let store: MailStore
    let transport: any MailTransport
    let sender: String
    let maxAttempts: Int
    let retryBase: Duration
    let pollInterval: Duration
    let passDeadline: Duration
    let logger: Logger
    private nonisolated let wakes: AsyncStream<Void>
    private nonisolated let waker: AsyncStream<Void>.Continuation

    public init(
        metadata: PostgresClient, box: SecretBox, transport: any MailTransport, sender: String, maxAttempts: Int,
        retryBase: Duration, pollInterval: Duration = .seconds(2), passDeadline: Duration = .seconds(60),
        logger: Logger
    ) {
        self.metadata = metadata
        self.store = MailStore(box: box, logger: logger)
        self.transport = transport
        self.sender = sender
        self.maxAttempts = maxAttempts
        self.retryBase = retryBase
        self.pollInterval = pollInterval
        self.passDeadline = passDeadline
        self.logger = logger
        (wakes, waker) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A message was queued: look now rather than at the next poll.
    public nonisolated func wake() {
        waker.yield()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.pollInterval)
                    self.wake()
                }
            }
            defer { ticker.cancel() }
            await self.deliverDue()
            for await _ in self.wakes {
                if Task.isCancelled { break }
                await self.deliverDue()
            }
        }
    }

    /// Delivers every message due now; returns how many were sent.
    @discardableResult
    public func deliverDue() async -> Int {
        var sent = 0
        while !Task.isCancelled {
            let batch: [(OutgoingMail, attempts: Int)]
            do {
                batch = try await withDeadline(passDeadline) { [metadata, store] in
                    try await metadata.withConnection { try await store.claim(limit: 10, lease: .seconds(120), on: $0) }
                }
            } catch {
                logger.warning("mail: cannot read the outbox", metadata: ["error": "\(describeDatabaseError(error))"])
                return sent
            }
            if batch.isEmpty { return sent }
            for (mail, attempts) in batch {
                if await deliver(mail, attempts: attempts) { sent += 1 }
            }
        }
        return sent
    }

    /// One message; true when sent.
    func deliver(_ mail: OutgoingMail, attempts: Int) async -> Bool {
        let message = MailMessage.compose(mail, from: sender)
        let actor = AuditActor(kind: .system, display: "mail delivery")
        let details = ["kind": mail.kind, "recipient": mail.recipient, "attempts": String(attempts)]
        do {
            try await transport.deliver(mail, from: sender, message: message)
        } catch {
            let permanent = (error as? SMTPError)?.isPermanent == true
            let retry = permanent || attempts >= maxAttempts ? nil : backoff(attempts)
            logger.warning(
                "mail: delivery failed",
                metadata: [
                    "mail_id": "\(mail.id)", "kind": "\(mail.kind)", "attempts": "\(attempts)",
                    "retry_in": "\(retry.map { "\($0)" } ?? "never")", "error": "\(error)",
                ])
            do {
                try await withDeadline(passDeadline) { [metadata, store, logger] in
                    try await metadata.auditedChange(logger: logger) { connection, trail in
                        try await store.markFailed(mail.id, error: "\(error)", retryIn: retry, on: connection)
                        if retry == nil {
                            var failed = details
                            failed["error"] = String("\(error)".prefix(300))
                            try await trail.append(
                                actor.event(
                                    org: mail.org, action: .mailFail, entityType: "mail",
                                    entityID: mail.id.uuidString.lowercased(), outcome: .failed, metadata: failed))
                        }
                    }
                }
            } catch {
                logger.warning("mail: cannot record a failure", metadata: ["error": "\(describeDatabaseError(error))"])
            }
            return false
        }
        do {
            try await withDeadline(passDeadline) { [metadata, store, logger] in
                try await metadata.auditedChange(logger: logger) { connection, trail in
                    try await store.markSent(mail.id, on: connection)
                    try await trail.append(
                        actor.event(
                            org: mail.org, action: .mailSend, entityType: "mail",
                            entityID: mail.id.uuidString.lowercased(), metadata: details))
                }
            }
        } catch {
            // Sent but not marked: the lease runs out and it is sent again (at least once, never lost).
            logger.warning("mail: sent but not recorded", metadata: ["error": "\(describeDatabaseError(error))"])
        }
        return true
    }

    /// retryBase × 2^(attempts − 1), at most an hour.
    func backoff(_ attempts: Int) -> Duration {
        let seconds = Double(retryBase.components.seconds) * pow(2, Double(max(0, attempts - 1)))
        return .seconds(min(3600, seconds))
    }
}
