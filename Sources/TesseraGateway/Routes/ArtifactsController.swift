import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/artifacts` and `/v1/artifact-downloads/{token}`: blobs in the org's artifact store, their
/// records in the org's own database. Bytes stream both ways: an upload is hashed and counted while it is
/// written to the store, a download read a chunk at a time as it is sent.
struct ArtifactsController: TenantController {
    let client: PostgresClient
    /// Org statuses as the access chain reads them (cached, invalidated on change, bounded by the deadline).
    let orgs: OrgStatusLookup
    let tenants: TenantDatabases
    let store: any ArtifactStore
    let links: ArtifactLinks
    /// `http.max_artifact_bytes`.
    let maxBytes: Int
    let baseLogger: Logger

    func artifacts(_ org: UUID? = nil) throws -> ArtifactRepository {
        ArtifactRepository(org: try org ?? Tenant.required().orgID, databases: tenants, logger: logger)
    }

    func listArtifacts(_ input: Operations.listArtifacts.Input) async throws -> Operations.listArtifacts.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await artifacts().list(after: try Self.cursor(input.query.cursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.id($0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getArtifact(_ input: Operations.getArtifact.Input) async throws -> Operations.getArtifact.Output {
        guard let record = try await artifacts().get(try Self.objectID(input.path.id)) else {
            throw Self.noSuchArtifact
        }
        return .ok(.init(body: .json(Self.schema(record))))
    }

    /// Streams the body into the store (refused, with nothing kept, past `http.max_artifact_bytes` or what is left
    /// of the org's `artifact_bytes` quota), then records it: the quota is checked again, under its lock, in the
    /// transaction that records the artifact and its `artifact.create`.
    func createArtifact(_ input: Operations.createArtifact.Input) async throws -> Operations.createArtifact.Output {
        guard case .binary(let body) = input.body else {
            throw TesseraError.badRequest("expected the bytes as application/octet-stream")
        }
        let record = try await receive(
            body, org: try Tenant.required().orgID, name: try Self.artifactName(input.query.name),
            contentType: try Self.mediaType(input.query.content_type ?? "application/octet-stream"),
            createdBy: Self.currentUserID, by: auditActor())
        return .created(.init(body: .json(Self.schema(record))))
    }

    /// A task service stores a file it made while its execution runs, with its execution's token.
    func createTaskArtifact(_ input: Operations.createTaskArtifact.Input) async throws
        -> Operations.createTaskArtifact.Output
    {
        guard case .binary(let body) = input.body else {
            throw TesseraError.badRequest("expected the bytes as application/octet-stream")
        }
        let name = try Self.artifactName(input.query.name)
        let contentType = try Self.mediaType(input.query.content_type ?? "application/octet-stream")
        let unknown = TesseraError.notFound("no running execution has this token")
        guard let (org, execution, secret) = ExecutionToken.parse(input.path.token),
            try await orgs.status(of: org) == .ready,
            try await JobEngineStore(org: org, databases: tenants, logger: logger).callbackTarget(
                execution, secret: secret) != nil
        else { throw unknown }
        let actor = AuditActor(kind: .system, display: "task service (execution \(Self.id(execution)))")
        let record = try await receive(body, org: org, name: name, contentType: contentType, createdBy: nil, by: actor)
        return .created(.init(body: .json(Self.schema(record))))
    }

    /// Streams `body` into the store and records it as an artifact of `org` (see `createArtifact`).
    func receive(
        _ body: HTTPBody, org: UUID, name: String, contentType: String, createdBy: UUID?, by actor: AuditActor
    ) async throws -> ArtifactRecord {
        let repository = try artifacts(org)
        let quotas = try await orgQuotas(client, org: org)
        var limit = maxBytes
        var quota: (limit: Int, used: Int)?
        if let quotaLimit = quotas[.artifactBytes] {
            let used = try await repository.usedBytes()
            if quotaLimit - used < limit {
                limit = max(0, quotaLimit - used)
                quota = (quotaLimit, used)
            }
        }
        let staged = try await store.staging.receive(org, body, limit: limit) { limit in
            if let quota {
                return TesseraError.quotaExceeded(quota: "artifact_bytes", limit: quota.limit, used: quota.used)
            }
            return TesseraError.payloadTooLarge(limit: limit)
        }
        defer { store.staging.discard(staged) }
        // Placed before the transaction (an S3 upload may take minutes; no connection is held meanwhile).
        try await store.place(org, staged)
        return try await repository.create(
            name: name, contentType: contentType, sizeBytes: staged.sizeBytes, sha256: staged.sha256,
            createdBy: createdBy, quotas: quotas, by: actor,
            ensurePlaced: { [store] in
                if try await !store.contains(org, staged.sha256) { try await store.place(org, staged) }
            },
            discard: { [store] in await store.remove(org, staged.sha256) })
    }

    func downloadArtifact(_ input: Operations.downloadArtifact.Input) async throws -> Operations.downloadArtifact.Output
    {
        let org = try Tenant.required().orgID
        guard let record = try await artifacts().get(try Self.objectID(input.path.id)) else {
            throw Self.noSuchArtifact
        }
        let (partial, response) = try await serve(record, of: org, range: input.headers.Range)
        return partial ? .partialContent(response) : .ok(response)
    }

    func deleteArtifact(_ input: Operations.deleteArtifact.Input) async throws -> Operations.deleteArtifact.Output {
        let org = try Tenant.required().orgID
        let deleted = try await artifacts().delete(try Self.objectID(input.path.id), by: auditActor()) {
            [store] sha256 in await store.remove(org, sha256)
        }
        guard deleted else { throw Self.noSuchArtifact }
        return .noContent(.init())
    }

    func createArtifactLink(_ input: Operations.createArtifactLink.Input) async throws
        -> Operations.createArtifactLink.Output
    {
        let seconds = input.query.expires_in ?? 300
        guard (1...ArtifactLinks.maxSeconds).contains(seconds) else {
            throw TesseraError.badRequest("expires_in must be 1–\(ArtifactLinks.maxSeconds) seconds")
        }
        let org = try Tenant.required().orgID
        let id = try Self.objectID(input.path.id)
        guard try await artifacts().get(id) != nil else { throw Self.noSuchArtifact }
        let expires = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(seconds)).rounded(.down))
        let token = links.token(org: org, artifact: id, expires: expires)
        return .created(.init(body: .json(.init(url: "/v1/artifact-downloads/\(token)", expires_at: expires))))
    }

    /// A signed link's download: the link names the org (no key, no tenant resolved by the access chain), so the
    /// org must still be ready, looked up as the access chain looks it up.
    func downloadArtifactByLink(_ input: Operations.downloadArtifactByLink.Input) async throws
        -> Operations.downloadArtifactByLink.Output
    {
        let unknown = TesseraError.notFound("no such download link, or it has expired")
        guard let (org, id) = links.verify(input.path.token) else { throw unknown }
        guard try await orgs.status(of: org) == .ready, let record = try await artifacts(org).get(id) else {
            throw unknown
        }
        let (partial, response) = try await serve(record, of: org, range: input.headers.Range)
        return partial ? .partialContent(response) : .ok(response)
    }

    /// The bytes of `record` (the part `range` asks for), and whether they are a part.
    func serve(_ record: ArtifactRecord, of org: UUID, range header: String?) async throws
        -> (Bool, Components.Responses.ArtifactBytes)
    {
        let size = record.sizeBytes
        let range: Range<Int>
        let partial: Bool
        switch ByteRange.parse(header, size: size) {
        case .whole: (range, partial) = (0..<size, false)
        case .part(let part): (range, partial) = (part, true)
        case .unsatisfiable: throw TesseraError.rangeNotSatisfiable(size: size)
        }
        guard let body = try await store.read(org, record.sha256, range: range) else {
            logger.error("an artifact's blob is missing from the store", metadata: ["artifact": "\(record.id)"])
            throw TesseraError.unavailable("the artifact's bytes cannot be read now")
        }
        let headers = Components.Responses.ArtifactBytes.Headers(
            ETag: "\"\(record.sha256.hexString)\"", Accept_hyphen_Ranges: "bytes",
            Content_hyphen_Range: partial ? "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)" : nil,
            Content_hyphen_Disposition: "attachment; filename=\"\(Self.asciiFileName(record.name))\"",
            X_hyphen_Content_hyphen_Type_hyphen_Options: "nosniff")
        return (partial, .init(headers: headers, body: .binary(body)))
    }

    static let noSuchArtifact = TesseraError.notFound("no such artifact")

    static func schema(_ record: ArtifactRecord) -> Components.Schemas.Artifact {
        .init(
            id: id(record.id), name: record.name, content_type: record.contentType,
            size_bytes: Int64(record.sizeBytes), sha256: record.sha256.hexString, created_at: record.createdAt)
    }

    /// 1–255 characters, none of them a control character.
    static func artifactName(_ raw: String) throws -> String {
        guard (1...255).contains(raw.count),
            !raw.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw TesseraError.badRequest("name must be 1–255 characters, without control characters") }
        return raw
    }

    /// `type/subtype` of RFC 9110 tokens (parameters such as `; charset=utf-8` allowed after it), at most 255 bytes.
    static func mediaType(_ raw: String) throws -> String {
        let essence = raw.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let parts = essence.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        let token = { (part: Substring) in
            !part.isEmpty
                && part.utf8.allSatisfy { byte in
                    (0x21...0x7e).contains(byte) && !"()<>@,;:\\\"/[]?={}".utf8.contains(byte)
                }
        }
        guard raw.utf8.count <= 255, parts.count == 2, parts.allSatisfy(token),
            raw.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.generalCategory != .control })
        else { throw TesseraError.badRequest("content_type must be a media type (type/subtype)") }
        return raw
    }

    /// The name as a quoted-string's ASCII: anything else, and quotes and backslashes, as `_`.
    static func asciiFileName(_ name: String) -> String {
        String(
            String.UnicodeScalarView(
                name.unicodeScalars.map { (0x20...0x7e).contains($0.value) && $0 != "\"" && $0 != "\\" ? $0 : "_" }))
    }
}
