import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A user as login needs it.
public struct LoginUser: Sendable {
    public let id: UUID
    public let email: String
    public let passwordHash: String?
    public let active: Bool
}

/// What authentication needs to know about a session token, found by its digest.
public struct SessionCredential: Sendable {
    public let tokenID: UUID
    public let userID: UUID
    public let email: String
    public let isPlatformAdmin: Bool
    public let expiresAt: Date
    public let revokedAt: Date?
    public let userActive: Bool
    public let grants: [UUID: Set<Permission>]
}

/// Users and their session and invitation tokens in the metadata database.
public struct UserStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public static func normalise(email: String) -> String { EmailAddress.normalise(email) }

    public func loginUser(email: String, on connection: PostgresConnection) async throws -> LoginUser? {
        let rows = try await connection.sql(
            "SELECT id, email, password_hash, status = 'active' FROM users WHERE email = \(Self.normalise(email: email))",
            logger: logger)
        return try await rows.collect().first.map { row in
            let (id, email, hash, active) = try row.decode((UUID, String, String?, Bool).self)
            return LoginUser(id: id, email: email, passwordHash: hash, active: active)
        }
    }

    /// The user with that email, created (with the given password hash, or none) when there is none yet.
    /// Returns the id and whether it was created.
    public func findOrCreate(email: String, passwordHash: String?, on connection: PostgresConnection) async throws -> (
        UUID, Bool
    ) {
        let email = Self.normalise(email: email)
        let inserted = try await connection.sql(
            """
            INSERT INTO users (email, password_hash) VALUES (\(email), \(passwordHash))
            ON CONFLICT (email) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        if let row = inserted.first { return (try row.decode(UUID.self), true) }
        let existing = try await connection.sql("SELECT id FROM users WHERE email = \(email)", logger: logger)
            .collect()
        guard let row = existing.first else { throw TesseraError.conflict("the user changed concurrently; retry") }
        return (try row.decode(UUID.self), false)
    }

    public func setPassword(user: UUID, hash: String, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET password_hash = \(hash) WHERE id = \(user)", logger: logger)
    }

    /// Issues a token of `kind` for the user, valid for `lifetime`; the plaintext exists only in the result.
    public func issueToken(
        user: UUID, kind: String, lifetime: Duration, org: UUID? = nil, clientIP: String?, userAgent: String?,
        on connection: PostgresConnection
    ) async throws -> (id: UUID, token: SessionToken, expiresAt: Date) {
        let token = SessionToken.generate()
        let seconds = Double(lifetime.components.seconds)
        let rows = try await connection.sql(
            """
            INSERT INTO tokens (user_id, org_id, kind, token_hash, expires_at, client_ip, user_agent)
            VALUES (\(user), \(org), \(kind)::token_kind, \(ByteBuffer(bytes: token.digest)),
                    now() + make_interval(secs => \(seconds)), \(clientIP)::inet, \(userAgent))
            RETURNING id, expires_at
            """, logger: logger)
        let (id, expires) = try await rows.collect()[0].decode((UUID, Date).self)
        return (id, token, expires)
    }

    /// A live session's user and grants (every active membership's permissions, per org).
    public func session(digest: [UInt8], on connection: PostgresConnection) async throws -> SessionCredential? {
        let rows = try await connection.sql(
            """
            SELECT t.id, u.id, u.email, u.is_platform_admin, t.expires_at, t.revoked_at, u.status = 'active'
            FROM tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = \(ByteBuffer(bytes: digest)) AND t.kind = 'session'
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (tokenID, userID, email, platform, expires, revoked, active) = try row.decode(
            (UUID, UUID, String, Bool, Date, Date?, Bool).self)
        return SessionCredential(
            tokenID: tokenID, userID: userID, email: email, isPlatformAdmin: platform, expiresAt: expires,
            revokedAt: revoked, userActive: active, grants: try await grants(user: userID, on: connection))
    }

    /// What a user may do in each org where the membership is active.
    public func grants(user: UUID, on connection: PostgresConnection) async throws -> [UUID: Set<Permission>] {
        let rows = try await connection.sql(
            """
            SELECT m.org_id, coalesce(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}')
            FROM memberships m
            LEFT JOIN membership_roles mr ON mr.membership_id = m.id
            LEFT JOIN role_permissions p ON p.role_id = mr.role_id
            WHERE m.user_id = \(user) AND m.status = 'active'
            GROUP BY m.org_id
            """, logger: logger)
        var grants: [UUID: Set<Permission>] = [:]
        for try await (org, permissions) in rows.decode((UUID, [String]).self) {
            grants[org] = Set(permissions.compactMap(Permission.init(rawValue:)))
        }
        return grants
    }

    /// Revokes a token (a tombstone, like keys); returns whether it was live.
    @discardableResult
    public func revokeToken(id: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql(
            "UPDATE tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: logger)
        return try await !rows.collect().isEmpty
    }

    /// Consumes a live invitation token: returns its user, and revokes the token.
    /// Uses up a live invitation; its user, unless that user has a password already (an invitation never
    /// re-keys an account: the token is used up all the same).
    public func consumeInvitation(digest: [UInt8], on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.sql(
            """
            UPDATE tokens t SET revoked_at = now() FROM users u
            WHERE t.token_hash = \(ByteBuffer(bytes: digest)) AND t.kind = 'invitation' AND t.revoked_at IS NULL
              AND t.expires_at > now() AND u.id = t.user_id
            RETURNING t.user_id, u.password_hash IS NULL
            """, logger: logger)
        guard let (user, passwordless) = try await rows.collect().first?.decode((UUID, Bool).self), passwordless else {
            return nil
        }
        return user
    }

    /// Uses up a live password-reset token; its user.
    public func consumePasswordReset(digest: [UInt8], on connection: PostgresConnection) async throws -> UUID? {
        try await connection.sql(
            """
            UPDATE tokens SET revoked_at = now()
            WHERE token_hash = \(ByteBuffer(bytes: digest)) AND kind = 'password_reset' AND revoked_at IS NULL
              AND expires_at > now()
            RETURNING user_id
            """, logger: logger
        ).collect().first?.decode(UUID.self)
    }

    /// Ends every session of the user and revokes their other live reset tokens; how many sessions ended.
    @discardableResult
    public func revokeSessions(of user: UUID, on connection: PostgresConnection) async throws -> Int {
        try await connection.sql(
            """
            UPDATE tokens SET revoked_at = now()
            WHERE user_id = \(user) AND kind IN ('session', 'password_reset') AND revoked_at IS NULL
            RETURNING kind = 'session'
            """, logger: logger
        ).collect().filter { try $0.decode(Bool.self) }.count
    }

    /// Uses up a live address-verification token and marks its user's address verified; the user.
    public func consumeVerification(digest: [UInt8], on connection: PostgresConnection) async throws -> UUID? {
        guard
            let user = try await connection.sql(
                """
                UPDATE tokens SET revoked_at = now()
                WHERE token_hash = \(ByteBuffer(bytes: digest)) AND kind = 'email_verification' AND revoked_at IS NULL
                  AND expires_at > now()
                RETURNING user_id
                """, logger: logger
            ).collect().first?.decode(UUID.self)
        else { return nil }
        try await markVerified(user, on: connection)
        return user
    }

    /// The user has shown they read the address's mail (a verification, an invitation or a reset).
    public func markVerified(_ user: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = \(user)", logger: logger
        )
    }

    public func isVerified(_ user: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await connection.sql(
            "SELECT email_verified_at IS NOT NULL FROM users WHERE id = \(user)", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
    }

    /// The user's email, if there is such a user.
    /// The user's email; nil when there is no such user (or, with `activeOnly`, when the account is not active).
    public func email(of user: UUID, activeOnly: Bool = false, on connection: PostgresConnection) async throws
        -> String?
    {
        try await connection.sql(
            "SELECT email FROM users WHERE id = \(user) AND (NOT \(activeOnly) OR status = 'active')", logger: logger
        ).collect().first?.decode(String.self)
    }

    public func hasPassword(_ user: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await connection.sql(
            "SELECT password_hash IS NOT NULL FROM users WHERE id = \(user)", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
    }

    public func recordLogin(user: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET last_login_at = now() WHERE id = \(user)", logger: logger)
    }
}
