import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// An org's OpenID Connect provider; the client secret stays sealed here (opened only to call the token endpoint).
public struct IdentityProviderRecord: Sendable {
    public let id: UUID
    public let org: UUID
    public let name: String
    public let issuer: String
    public let clientID: String
    public let clientSecretSealed: [UInt8]
    /// Email domains whose people may join through this provider (lower case).
    public let allowedDomains: [String]
    /// The role a person joining through this provider gets.
    public let role: String
    public let enabled: Bool
    public let createdAt: Date

    /// What the secret is sealed to: a sealed secret of one provider opens for no other.
    public static func secretLabel(_ id: UUID) -> String { "identity-provider:\(id.uuidString.lowercased())" }
}

/// Identity providers, the identities linked to users (by provider and subject, never by email), and the
/// sign-in states already spent.
public struct IdentityStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Adds a provider; nil when the org has one of that name.
    public func create(
        id: UUID, org: UUID, name: String, issuer: String, clientID: String, secretSealed: [UInt8],
        allowedDomains: [String], role: String, on connection: PostgresConnection
    ) async throws -> IdentityProviderRecord? {
        let rows = try await connection.sql(
            """
            INSERT INTO identity_providers (id, org_id, kind, name, issuer, client_id, client_secret_ciphertext, config)
            VALUES (\(id), \(org), 'oidc', \(name), \(issuer), \(clientID), \(ByteBuffer(bytes: secretSealed)),
                    jsonb_build_object('allowed_domains', to_jsonb(\(allowedDomains)::text[]), 'role', \(role)::text))
            ON CONFLICT (org_id, name) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        guard !rows.isEmpty else { return nil }
        return try await provider(id: id, on: connection)
    }

    static let columns = """
        SELECT id, org_id, name, issuer, client_id, client_secret_ciphertext,
               ARRAY(SELECT jsonb_array_elements_text(config->'allowed_domains')), config->>'role', enabled, created_at
        FROM identity_providers
        """

    /// One OIDC provider by id (in any org: the sign-in routes name it alone).
    public func provider(id: UUID, on connection: PostgresConnection) async throws -> IdentityProviderRecord? {
        try await records(
            connection.sql("\(unescaped: Self.columns) WHERE id = \(id) AND kind = 'oidc'", logger: logger)
        ).first
    }

    /// The org's OIDC providers, by name.
    public func providers(org: UUID, on connection: PostgresConnection) async throws -> [IdentityProviderRecord] {
        try await records(
            connection.sql(
                "\(unescaped: Self.columns) WHERE org_id = \(org) AND kind = 'oidc' ORDER BY name", logger: logger))
    }

    /// The OIDC providers of the ready org with `slug`, by name.
    public func providers(orgSlug slug: String, on connection: PostgresConnection) async throws
        -> [IdentityProviderRecord]
    {
        try await records(
            connection.sql(
                """
                \(unescaped: Self.columns)
                WHERE kind = 'oidc' AND org_id = (SELECT id FROM organizations WHERE slug = \(slug) AND status = 'ready')
                ORDER BY name
                """, logger: logger))
    }

    private func records(_ rows: PostgresRowSequence) async throws -> [IdentityProviderRecord] {
        try await rows.collect().map { row in
            let (id, org, name, issuer, client, sealed, domains, role, enabled, created) = try row.decode(
                (UUID, UUID, String, String, String?, ByteBuffer?, [String], String?, Bool, Date).self)
            return IdentityProviderRecord(
                id: id, org: org, name: name, issuer: issuer, clientID: client ?? "",
                clientSecretSealed: sealed.map { Array($0.readableBytesView) } ?? [], allowedDomains: domains,
                role: role ?? SystemRole.viewer.rawValue, enabled: enabled, createdAt: created)
        }
    }

    /// Deletes the org's provider (its identities and pending sign-ins go with it); false when there is none.
    public func delete(org: UUID, id: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await !connection.sql(
            "DELETE FROM identity_providers WHERE org_id = \(org) AND id = \(id) RETURNING 1", logger: logger
        ).collect().isEmpty
    }

    // MARK: states that came back

    /// Records a state as spent; false when it was spent already (a replay). States past their end go.
    public func spend(stateDigest: [UInt8], provider: UUID, expiresAt: Date, on connection: PostgresConnection)
        async throws -> Bool
    {
        try await connection.sql("DELETE FROM oidc_states_spent WHERE expires_at < now()", logger: logger)
        return try await !connection.sql(
            """
            INSERT INTO oidc_states_spent (state_digest, provider_id, expires_at)
            VALUES (\(ByteBuffer(bytes: stateDigest)), \(provider), \(expiresAt))
            ON CONFLICT (state_digest) DO NOTHING RETURNING 1
            """, logger: logger
        ).collect().isEmpty
    }

    // MARK: identities

    /// The user this provider's subject is linked to.
    public func linkedUser(provider: UUID, subject: String, on connection: PostgresConnection) async throws -> UUID? {
        try await connection.sql(
            "SELECT user_id FROM identities WHERE provider_id = \(provider) AND subject = \(subject)", logger: logger
        ).collect().first?.decode(UUID.self)
    }

    /// Links the subject to the user; false when the subject is linked already.
    public func link(
        user: UUID, provider: UUID, subject: String, email: String?, on connection: PostgresConnection
    ) async throws -> Bool {
        try await !connection.sql(
            """
            INSERT INTO identities (user_id, provider_id, subject, email, last_login_at)
            VALUES (\(user), \(provider), \(subject), \(email), now())
            ON CONFLICT (provider_id, subject) DO NOTHING RETURNING 1
            """, logger: logger
        ).collect().isEmpty
    }

    public func recordLogin(provider: UUID, subject: String, email: String?, on connection: PostgresConnection)
        async throws
    {
        try await connection.sql(
            """
            UPDATE identities SET last_login_at = now(), email = \(email)
            WHERE provider_id = \(provider) AND subject = \(subject)
            """, logger: logger)
    }
}
