import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway
@testable import TesseraProvisioning

/// An org's routes, called as a platform admin with JSON (or another content type).
struct OrgCalls: Sendable {
    let client: any TestClientProtocol
    let org: UUID
    let key: APIKey

    var headers: HTTPFields { [.authorization: "Bearer \(key.plaintext)", .contentType: "application/json"] }

    func post(_ path: String, _ body: String, contentType: String = "application/json") async throws -> TestResponse {
        var h = headers
        h[.contentType] = contentType
        return try await client.execute(
            uri: "/v1/orgs/\(org)\(path)", method: .post, headers: h, body: ByteBuffer(string: body))
    }

    func get(_ path: String) async throws -> TestResponse {
        try await client.execute(uri: "/v1/orgs/\(org)\(path)", method: .get, headers: headers)
    }

    func send(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/orgs/\(org)\(path)", method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    /// POSTs and returns the created object's id (a status other than 2xx is recorded with the body).
    func create(_ path: String, _ body: String, contentType: String = "application/json") async throws -> String {
        struct Created: Decodable { let id: String }
        return try decodeSuccess(Created.self, try await post(path, body, contentType: contentType)).id
    }
}

/// A 2xx response's JSON body as `type`; any other status is recorded as an issue naming the body first.
func decodeSuccess<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    #expect((200..<300).contains(response.status.code), "\(String(buffer: response.body).prefix(400))")
    return try JSONDecoder().decode(type, from: Data(buffer: response.body))
}
