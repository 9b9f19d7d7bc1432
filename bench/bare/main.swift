// bench/bare: the reference server of bench/read — a bare Hummingbird route (no authentication, no OpenAPI
// layer, no middleware) that runs the SQL of Tessera's `GET /v1/orgs/{org}/datasets` on the same org database
// through PostgresNIO's own pool, with as many connections as Tessera lets one org hold, and answers the same
// JSON. Configured from the environment by bench/read; not part of the product.
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

struct Dataset: Codable {
    let id: String
    let name: String
    let description: String?
    let row_count: Int
    let fields: [String]
    let created_at: Date
}

struct Page: Codable {
    let items: [Dataset]
    let next_cursor: String?
}

func environment(_ name: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name] else {
        FileHandle.standardError.write(Data("bench-bare: \(name) is not set\n".utf8))
        exit(2)
    }
    return value
}

@main
struct BareRead {
    static func main() async throws {
        // The same runtime as `tessera serve`: Swift concurrency's jobs on NIO's event loops.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let logger = {
            var logger = Logger(label: "bench-bare")
            logger.logLevel = .warning
            return logger
        }()
        var configuration = PostgresClient.Configuration(
            host: environment("BARE_DB_HOST"), port: Int(environment("BARE_DB_PORT"))!,
            username: environment("BARE_DB_USER"), password: environment("BARE_DB_PASSWORD"),
            database: environment("BARE_DB_NAME"), tls: .disable)
        configuration.options.maximumConnections = Int(environment("BARE_POOL"))!
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let limit = 101  // Tessera asks for a page of 100 and one more, to know whether a next page exists

        let router = Router()
        // The JSON Tessera writes: compact, keys sorted, slashes unescaped, dates in ISO 8601.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        router.get("/v1/orgs/:org/datasets") { _, _ -> Response in
            let cursor: UUID? = nil
            let rows = try await client.query(
                """
                SELECT id, name, description, row_count, fields, created_at FROM datasets
                WHERE \(cursor)::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM datasets WHERE id = \(cursor))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger)
            var items: [Dataset] = []
            for try await (id, name, description, rowCount, fields, createdAt) in rows.decode(
                (UUID, String, String?, Int, [String], Date).self)
            {
                items.append(
                    Dataset(
                        id: id.uuidString.lowercased(), name: name, description: description, row_count: rowCount,
                        fields: fields, created_at: createdAt))
            }
            let body = try encoder.encode(Page(items: Array(items.prefix(100)), next_cursor: nil))
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        var app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: Int(environment("BARE_PORT"))!)),
            logger: logger)
        app.addServices(client)
        try await app.runService()
    }
}
