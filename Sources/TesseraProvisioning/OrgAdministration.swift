import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Org lifecycle changes a person asks for — create, suspend, request a purge, retry provisioning — written
/// once for the HTTP API and the `tessera` CLI: the same validation, the same errors, and each change
/// committed with its audit record in one metadata transaction, naming the actor it is given.
public struct OrgAdministration: Sendable {
    let metadata: PostgresClient
    let box: SecretBox
    let mailer: AccountMailer
    let logger: Logger

    public init(metadata: PostgresClient, box: SecretBox, mailer: AccountMailer, logger: Logger) {
        self.metadata = metadata
        self.box = box
        self.mailer = mailer
        self.logger = logger
    }

    /// A new org, in `provisioning` (a provisioner takes it from there). The owner, when named, is mailed an
    /// invitation (an account without a password) or a notice; true when it was an invitation.
    public func create(
        name rawName: String, slug rawSlug: String?, ownerEmail: String?, server: String?, by actor: AuditActor,
        selfService: (owner: UUID, maxOrgs: Int)? = nil
    ) async throws -> (OrgRecord, ownerInvited: Bool) {
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name must be 1–200 characters") }
        let slug = rawSlug ?? OrgSlug.derive(from: name)
        guard OrgSlug.isValid(slug) else {
            throw TesseraError.unprocessable(
                "slug '\(slug)' must be 2–63 of a-z, 0-9 and -, starting with a letter or digit")
        }
        let email = try ownerEmail.map(EmailAddress.validated)
        let (logger, box, mailer) = (logger, box, mailer)
        return try await metadata.auditedChange(logger: logger) { connection, trail -> (OrgRecord, Bool) in
            if let server, try await !ServerStore(box: box, logger: logger).exists(name: server, on: connection) {
                throw TesseraError.unprocessable("no database server named '\(server)'")
            }
            let users = UserStore(logger: logger)
            var email = email
            var owner: UUID?
            if let email { owner = try await users.findOrCreate(email: email, passwordHash: nil, on: connection).0 }
            if let (user, maxOrgs) = selfService {
                // A user creating their own org: verified, and under the limit (their row locked, so two
                // requests at once cannot both pass).
                let store = OrgStore(logger: logger)
                guard try await users.isVerified(user, on: connection) else {
                    throw TesseraError.forbidden(
                        "confirm your address first (the mailed token, POST /v1/auth/signup/verify)")
                }
                let owned = try await store.ownedCount(by: user, on: connection)
                guard owned < maxOrgs else {
                    throw TesseraError.conflict(
                        "you own \(owned) org(s); accounts.max_orgs_per_user is \(maxOrgs)")
                }
                owner = user
                email = try await users.email(of: user, on: connection)
            }
            guard
                let org = try await OrgStore(logger: logger).create(
                    slug: slug, name: name, owner: owner, server: server, on: connection)
            else { throw TesseraError.conflict("an org with slug '\(slug)' exists") }
            var details = ["name": name, "slug": slug]
            if let email { details["owner_email"] = email }
            if let server { details["database_server"] = server }
            try await trail.append(
                actor.event(
                    org: org.id, action: .orgCreate, entityType: "org", entityID: Self.id(org.id), metadata: details))
            guard let owner, let email else { return (org, false) }
            let invited = try await mailer.queueMembership(
                user: owner, email: email, org: org.id, roles: [SystemRole.owner.rawValue], by: actor, logger: logger,
                on: connection, trail: trail)
            return (org, invited)
        }
    }

    /// Replaces the org's quotas (each ≥ 0; one not given is no limit), with its record.
    public func setQuotas(_ org: OrgRecord, _ quotas: OrgQuotas, by actor: AuditActor) async throws -> OrgRecord {
        guard quotas.limits.values.allSatisfy({ $0 >= 0 }) else {
            throw TesseraError.unprocessable("a quota is a whole number, 0 or more")
        }
        try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            guard try await OrgStore(logger: logger).setQuotas(org.id, quotas, on: connection) else {
                throw TesseraError.notFound("no such organization")
            }
            try await trail.append(
                actor.event(
                    org: org.id, action: .orgQuotasSet, entityType: "org", entityID: Self.id(org.id),
                    metadata: ["quotas": quotas.json, "previous": org.quotas.json]))
        }
        return try await existing(org.id)
    }

    /// The org, or 404.
    public func existing(_ org: UUID) async throws -> OrgRecord {
        guard
            let record = try await metadata.withConnection({ [logger] in
                try await OrgStore(logger: logger).get(org, on: $0)
            })
        else {
            throw TesseraError.notFound("no such organization")
        }
        return record
    }

    /// What `delete` did.
    public struct Deletion: Sendable {
        /// This call suspended the org (it was not suspended before): close its connections.
        public let suspended: Bool
        /// The org is marked for purging: a provisioner drops its database, role and storage.
        public let purgeRequested: Bool
    }

    /// Suspends a ready or failed org (its keys and sessions stop at once; its data is kept) and, with
    /// `purge`, marks it for purging; `confirm` must then be its name, exactly (checked before anything
    /// changes). Each step commits with its own record (`org.suspend`, `org.purge_request`).
    public func delete(_ org: OrgRecord, purge: Bool, confirm: String?, by actor: AuditActor) async throws -> Deletion {
        if purge, confirm != org.name {
            throw TesseraError.unprocessable("to purge, pass confirm equal to the org's name, exactly")
        }
        var suspended = false
        if org.status != .suspended {
            guard org.status == .ready || org.status == .failed else {
                throw TesseraError.conflict(
                    "the org is \(org.status.rawValue); only a ready or failed org can be suspended")
            }
            try await change(org.id, .orgSuspend, by: actor) { store, connection in
                try await store.setStatus(org.id, to: .suspended, from: org.status, on: connection)
            }
            suspended = true
        }
        guard purge else { return Deletion(suspended: suspended, purgeRequested: false) }
        try await change(org.id, .orgPurgeRequest, by: actor) { store, connection in
            try await store.requestPurge(org.id, on: connection)
        }
        return Deletion(suspended: suspended, purgeRequested: true)
    }

    /// Resumes a failed provisioning from its failed step.
    public func retry(_ org: OrgRecord, by actor: AuditActor) async throws {
        guard org.status == .failed else {
            throw TesseraError.conflict("the org is \(org.status.rawValue); only a failed provisioning can be retried")
        }
        try await change(org.id, .orgProvisionRetry, by: actor) { store, connection in
            try await store.retry(org.id, on: connection)
        }
    }

    /// Runs `apply` and records `action` in one transaction; 409 when `apply` finds the org changed meanwhile.
    private func change(
        _ org: UUID, _ action: AuditAction, by actor: AuditActor,
        _ apply: @escaping @Sendable (OrgStore, PostgresConnection) async throws -> Bool
    ) async throws {
        let logger = logger
        let applied = try await metadata.withTransaction(logger: logger) { connection -> Bool in
            guard try await apply(OrgStore(logger: logger), connection) else { return false }
            try await AuditStore(logger: logger).append(
                actor.event(org: org, action: action, entityType: "org", entityID: Self.id(org)), on: connection)
            return true
        }
        guard applied else { throw TesseraError.conflict("the org changed status meanwhile; try again") }
    }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }
}
