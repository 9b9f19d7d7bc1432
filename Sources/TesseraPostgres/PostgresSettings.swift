import Logging
import NIOSSL
import PostgresNIO
import TesseraCore

extension Settings.Database {
    /// Which login role to connect as: the gateway's, or the admin role used by migrations and provisioning.
    public enum Login: Sendable {
        case gateway, admin
    }

    func credentials(_ login: Login) -> (user: String, password: String?) {
        switch login {
        case .gateway: (user, password?.value)
        case .admin: (adminUser, adminPassword?.value)
        }
    }

    func connectionTLS() throws -> PostgresConnection.Configuration.TLS { try Self.connectionTLS(tls) }

    static func connectionTLS(_ tls: Settings.DatabaseTLS) throws -> PostgresConnection.Configuration.TLS {
        switch tls.mode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: clientTLSConfiguration(tls)))
        case .require, .verifyFull: .require(try NIOSSLContext(configuration: clientTLSConfiguration(tls)))
        }
    }

    /// Full verification in every mode that encrypts: a chain to the trusted roots (the CA file's, or the
    /// system's) and the host's name.
    static func clientTLSConfiguration(_ tls: Settings.DatabaseTLS) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if let caFile = tls.caFile { configuration.trustRoots = .file(caFile) }
        return configuration
    }

    /// A pooled client on the metadata database.
    public func clientConfiguration(as login: Login, database: String? = nil) -> PostgresClient.Configuration {
        let (user, password) = credentials(login)
        var config = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password,
            database: database ?? name, tls: postgresClientTLS)
        config.options.maximumConnections = poolSize
        config.options.connectTimeout = .seconds(5)
        return config
    }

    var postgresClientTLS: PostgresClient.Configuration.TLS { Self.clientTLS(tls) }

    static func clientTLS(_ tls: Settings.DatabaseTLS) -> PostgresClient.Configuration.TLS {
        switch tls.mode {
        case .disable: .disable
        case .prefer: .prefer(clientTLSConfiguration(tls))
        case .require, .verifyFull: .require(clientTLSConfiguration(tls))
        }
    }

    /// Opens one connection (for migrations and CLI work, where a pool is not wanted).
    public func connect(as login: Login, database: String? = nil, logger: Logger) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: try connectionConfiguration(as: login, database: database), id: 1, logger: logger)
    }

    func connectionConfiguration(as login: Login, database: String?) throws -> PostgresConnection.Configuration {
        let (user, password) = credentials(login)
        try tls.check(host: host)
        return PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database ?? name,
            tls: try connectionTLS())
    }

    /// Runs `body` on a fresh connection and closes it whatever happens.
    public func withConnection<T: Sendable>(
        as login: Login, database: String? = nil, logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withSingleConnection(try connectionConfiguration(as: login, database: database), logger: logger, body)
    }
}

/// Opens one connection, runs `body` on it and closes it whatever happens.
public func withSingleConnection<T: Sendable>(
    _ configuration: PostgresConnection.Configuration, logger: Logger, _ body: (PostgresConnection) async throws -> T
) async throws -> T {
    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    do {
        let result = try await body(connection)
        try? await connection.close()
        return result
    } catch {
        try? await connection.close()
        throw error
    }
}
