import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs`: create orgs (provisioned in the background), list them, follow and retry provisioning.
extension APIHandler {
    func createOrg(_ input: Operations.createOrg.Input) async throws -> Operations.createOrg.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name must be 1–200 characters") }
        let slug = body.slug ?? OrgSlug.derive(from: name)
        guard OrgSlug.isValid(slug) else {
            throw TesseraError.unprocessable("slug '\(slug)' must be 2–63 of a-z, 0-9 and -, starting with a letter or digit")
        }
        let email = try body.owner_email.map(Self.validEmail)
        let info = RequestInfo.current
        let (org, invitation) = try await client.withTransaction(logger: logger) { connection -> (OrgRecord, SessionToken?) in
            if let server = body.database_server {
                let known = try await connection.query(
                    "SELECT EXISTS (SELECT 1 FROM database_servers WHERE name = \(server))", logger: logger
                ).collect()[0].decode(Bool.self)
                guard known else { throw TesseraError.unprocessable("no database server named '\(server)'") }
            }
            var owner: UUID?
            var invitation: SessionToken?
            if let email {
                let users = UserStore(logger: logger)
                let (user, created) = try await users.findOrCreate(email: email, passwordHash: nil, on: connection)
                owner = user
                if created {
                    invitation = try await users.issueToken(
                        user: user, kind: "invitation", lifetime: .seconds(7 * 24 * 3600), clientIP: nil, userAgent: info.userAgent,
                        on: connection
                    ).token
                }
            }
            guard let org = try await OrgStore(logger: logger).create(
                slug: slug, name: name, owner: owner, server: body.database_server, on: connection)
            else { throw TesseraError.conflict("an org with slug '\(slug)' exists") }
            var metadata = ["name": name, "slug": slug]
            if let email { metadata["owner_email"] = email }
            if let server = body.database_server { metadata["database_server"] = server }
            try await record(audit(.orgCreate, org: org.id, entityType: "org", entityID: org.id, metadata: metadata), on: connection)
            return (org, invitation)
        }
        wakeProvisioner()
        return .accepted(.init(body: .json(.init(
            org: Self.schema(org), provisioning_url: "/v1/orgs/\(Self.id(org.id))/provisioning",
            invitation_token: invitation?.plaintext))))
    }

    func listOrgs(_ input: Operations.listOrgs.Input) async throws -> Operations.listOrgs.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let cursor = try Self.cursor(input.query.cursor)
        let status = input.query.status.flatMap { OrgStatus(rawValue: $0.rawValue) }
        let orgs = try await client.withConnection {
            try await OrgStore(logger: logger).list(status: status, after: cursor, limit: limit + 1, on: $0)
        }
        let page = Array(orgs.prefix(limit))
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: orgs.count > limit ? page.last.map { Self.id($0.id) } : nil))))
    }

    func getOrg(_ input: Operations.getOrg.Input) async throws -> Operations.getOrg.Output {
        let org = try await existingOrg(input.path.org)
        return .ok(.init(body: .json(Self.schema(org))))
    }

    func getProvisioning(_ input: Operations.getProvisioning.Input) async throws -> Operations.getProvisioning.Output {
        .ok(.init(body: .json(try await provisioning(of: try await existingOrg(input.path.org)))))
    }

    func retryProvisioning(_ input: Operations.retryProvisioning.Input) async throws -> Operations.retryProvisioning.Output {
        let org = try await existingOrg(input.path.org)
        let retried = try await client.withTransaction(logger: logger) { connection -> Bool in
            guard try await OrgStore(logger: logger).retry(org.id, on: connection) else { return false }
            try await record(audit(.orgProvisionRetry, org: org.id, entityType: "org", entityID: org.id), on: connection)
            return true
        }
        guard retried else {
            throw TesseraError.conflict("the org is \(org.status.rawValue); only a failed provisioning can be retried")
        }
        wakeProvisioner()
        return .accepted(.init(body: .json(try await provisioning(of: try await existingOrg(input.path.org)))))
    }

    func existingOrg(_ raw: String) async throws -> OrgRecord {
        let id = try Self.objectID(raw)
        guard let org = try await client.withConnection({ try await OrgStore(logger: logger).get(id, on: $0) }) else {
            throw TesseraError.notFound("no such organization")
        }
        return org
    }

    func provisioning(of org: OrgRecord) async throws -> Components.Schemas.Provisioning {
        let steps = try await client.withConnection { try await OrgStore(logger: logger).steps(org.id, on: $0) }
        return .init(
            org_id: Self.id(org.id), status: org.status.rawValue, status_reason: org.statusReason,
            steps: steps.map { step in
                .init(
                    step: step.step.rawValue, summary: step.step.summary,
                    status: .init(rawValue: step.status.rawValue) ?? .pending, attempts: step.attempts,
                    started_at: step.startedAt, finished_at: step.finishedAt,
                    duration_ms: zip(step.startedAt, step.finishedAt).map { $1.timeIntervalSince($0) * 1000 },
                    error: step.error)
            })
    }

    static func schema(_ org: OrgRecord) -> Components.Schemas.Org {
        .init(
            id: id(org.id), slug: org.slug, name: org.name, status: .init(rawValue: org.status.rawValue) ?? .failed,
            status_reason: org.statusReason, database_server: org.server, schema_version: org.schemaVersion, created_at: org.createdAt)
    }

    static func validEmail(_ raw: String) throws -> String {
        let email = UserStore.normalise(email: raw)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains(".") else {
            throw TesseraError.unprocessable("'\(raw)' is not an email address")
        }
        return email
    }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    static func pageLimit(_ limit: Int?) throws -> Int {
        let limit = limit ?? 100
        guard (1...1000).contains(limit) else { throw TesseraError.badRequest("limit must be 1–1000") }
        return limit
    }

    /// The first `limit` of `records` (fetched as limit + 1) and the cursor of the next page, if there is one.
    static func page<T>(_ records: [T], limit: Int, cursor: (T) -> String) -> ([T], String?) {
        let page = Array(records.prefix(limit))
        return (page, records.count > limit ? page.last.map(cursor) : nil)
    }

    static func cursor(_ raw: String?) throws -> UUID? {
        try raw.map { raw in
            guard let id = UUID(uuidString: raw) else { throw TesseraError.badRequest("cursor is not one this server gave") }
            return id
        }
    }
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

/// `DELETE /v1/orgs/{org}`: suspend, then (with purge and the org's name as confirmation) drop.
extension APIHandler {
    func deleteOrg(_ input: Operations.deleteOrg.Input) async throws -> Operations.deleteOrg.Output {
        let org = try await existingOrg(input.path.org)
        let purge = input.query.purge ?? false
        if purge, input.query.confirm != org.name {
            throw TesseraError.unprocessable("to purge, pass confirm equal to the org's name, exactly")
        }
        let store = OrgStore(logger: logger)
        if org.status != .suspended {
            guard org.status == .ready || org.status == .failed else {
                throw TesseraError.conflict("the org is \(org.status.rawValue); only a ready or failed org can be suspended")
            }
            let suspended = try await client.withTransaction(logger: logger) { connection -> Bool in
                guard try await store.setStatus(org.id, to: .suspended, from: org.status, on: connection) else { return false }
                try await record(audit(.orgSuspend, org: org.id, entityType: "org", entityID: org.id), on: connection)
                return true
            }
            guard suspended else { throw TesseraError.conflict("the org changed status meanwhile; try again") }
            tenants.close(org: org.id)
        }
        guard purge else { return .ok(.init(body: .json(Self.schema(try await existingOrg(input.path.org))))) }
        let requested = try await client.withTransaction(logger: logger) { connection -> Bool in
            guard try await store.requestPurge(org.id, on: connection) else { return false }
            try await record(audit(.orgPurgeRequest, org: org.id, entityType: "org", entityID: org.id), on: connection)
            return true
        }
        guard requested else {
            throw TesseraError.conflict("the org changed status meanwhile; try again")
        }
        wakeProvisioner()
        return .accepted(.init(body: .json(Self.schema(try await existingOrg(input.path.org)))))
    }
}
