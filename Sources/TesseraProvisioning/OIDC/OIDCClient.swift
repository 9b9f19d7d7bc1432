import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TesseraCore

/// Why a call to an identity provider came to nothing: our own short categories (the provider's text is never
/// passed on to the caller).
public enum OIDCError: Error, Equatable, Sendable {
    /// The URL is not one the gateway calls (its scheme, or an address not public while those are not allowed).
    case refusedURL(String)
    /// No answer, or not a usable one (status, size, JSON).
    case unreachable(String)
    /// The discovery document does not describe this issuer.
    case invalidDiscovery(String)
    /// The token endpoint refused the code (a 4xx answer).
    case codeRefused
    case token(IDTokenError)

    public var reason: String {
        switch self {
        case .refusedURL(let why), .unreachable(let why), .invalidDiscovery(let why): why
        case .codeRefused: "the provider refused the authorization code"
        case .token(let error): error.reason
        }
    }
}

/// What an issuer's `/.well-known/openid-configuration` says, the members sign-in uses.
public struct OIDCDiscovery: Decodable, Sendable, Equatable {
    public let issuer: String
    public let authorization_endpoint: String
    public let token_endpoint: String
    public let jwks_uri: String
    public let token_endpoint_auth_methods_supported: [String]?
    public let code_challenge_methods_supported: [String]?
}

/// The gateway's only caller of identity providers: discovery, key sets (cached, fetched again when a token
/// names a key the cache lacks, at most once a second: key rotation) and the token endpoint. Every URL is checked
/// first: https (http too where private addresses are allowed), and every address its host resolves to public
/// unless `allowPrivate`; no redirects are followed; answers are bounded in time and size.
public final class OIDCClient: Sendable {
    let policy: OutboundPolicy
    let logger: Logger
    private let cache = Mutex<[String: Cached]>([:])

    struct Cached {
        var discovery: OIDCDiscovery?
        var discoveredAt: ContinuousClock.Instant?
        var keys: JSONWebKeySet?
        var keysFetchedAt: ContinuousClock.Instant?
    }

    static let discoveryLifetime: Duration = .seconds(3600)
    public static let keyRefetchInterval: Duration = .seconds(1)
    static let maxAnswerBytes = 512 * 1024

    /// One process-wide client: never deinitialised, so never shut down while in use.
    static let http = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10))
        ).untraced())

    public init(allowPrivate: Bool, logger: Logger) {
        self.policy = OutboundPolicy(allowPrivate: allowPrivate)
        self.logger = logger
    }

    /// 422-worthy problems with an issuer URL, found without calling it.
    public func checkIssuer(_ issuer: String) throws(OIDCError) {
        guard let url = URLComponents(string: issuer), url.query == nil, url.fragment == nil, url.user == nil,
            url.password == nil
        else { throw .refusedURL("the issuer must be a URL without query, fragment or credentials") }
        _ = try checkScheme(url)
    }

    private func checkScheme(_ url: URLComponents) throws(OIDCError) -> String {
        guard let host = url.host, !host.isEmpty else { throw .refusedURL("the URL has no host") }
        switch url.scheme?.lowercased() {
        case "https": break
        case "http" where policy.allowPrivate: break
        default: throw .refusedURL("identity providers are called over https only")
        }
        return host
    }

    /// Refuses a URL whose host resolves to an address that is not public (unless private ones are allowed).
    func checkAddress(_ text: String) async throws(OIDCError) {
        guard let url = URLComponents(string: text) else { throw .refusedURL("not a URL") }
        let host = try checkScheme(url)
        do { try await policy.check(host: host) } catch {
            switch error {
            case .notPublic: throw .refusedURL("the provider's \(error.reason)")
            case .unresolvable: throw .unreachable("the provider's \(error.reason)")
            }
        }
    }

    /// The issuer's discovery document, cached for an hour; its `issuer` must be this issuer exactly.
    public func discover(_ issuer: String, fresh: Bool = false) async throws(OIDCError) -> OIDCDiscovery {
        let now = ContinuousClock.now
        if !fresh, let cached = cache.withLock({ $0[issuer] }), let discovery = cached.discovery,
            let at = cached.discoveredAt, now - at < Self.discoveryLifetime
        {
            return discovery
        }
        try checkIssuer(issuer)
        let body = try await get(issuer.withoutTrailingSlash + "/.well-known/openid-configuration")
        guard let discovery = try? JSONDecoder().decode(OIDCDiscovery.self, from: body) else {
            throw .invalidDiscovery("the discovery document is not one (issuer, endpoints and jwks_uri required)")
        }
        guard discovery.issuer == issuer else {
            throw .invalidDiscovery("the discovery document names another issuer")
        }
        if let methods = discovery.code_challenge_methods_supported, !methods.contains("S256") {
            throw .invalidDiscovery("the provider does not support PKCE with S256")
        }
        for endpoint in [discovery.authorization_endpoint, discovery.token_endpoint, discovery.jwks_uri] {
            guard let url = URLComponents(string: endpoint) else { throw .invalidDiscovery("an endpoint is no URL") }
            _ = try checkScheme(url)
        }
        cache.withLock { $0[issuer, default: Cached()].discovery = discovery }
        cache.withLock { $0[issuer, default: Cached()].discoveredAt = now }
        return discovery
    }

    /// Checks an ID token with the issuer's keys; a key the cached set lacks sends for the set again (once, and
    /// not more than once a second: the token comes from the token endpoint, not the browser), so a provider's key rotation needs nothing from anyone.
    public func verify(
        idToken: String, issuer: String, clientID: String, nonceDigest: [UInt8], discovery: OIDCDiscovery
    ) async throws(OIDCError) -> IDTokenClaims {
        let cached = cache.withLock { $0[issuer]?.keys }
        var keys: JSONWebKeySet
        if let cached { keys = cached } else { keys = try await fetchKeys(issuer: issuer, discovery: discovery) }
        do {
            return try IDToken.verify(
                idToken, keys: keys, issuer: issuer, clientID: clientID, nonceDigest: nonceDigest)
        } catch .unknownKey {
            let last = cache.withLock { $0[issuer]?.keysFetchedAt }
            guard cached != nil, last.map({ ContinuousClock.now - $0 >= Self.keyRefetchInterval }) ?? true else {
                throw .token(.unknownKey)
            }
            keys = try await fetchKeys(issuer: issuer, discovery: discovery)
            do {
                return try IDToken.verify(
                    idToken, keys: keys, issuer: issuer, clientID: clientID, nonceDigest: nonceDigest)
            } catch { throw .token(error) }
        } catch { throw .token(error) }
    }

    private func fetchKeys(issuer: String, discovery: OIDCDiscovery) async throws(OIDCError) -> JSONWebKeySet {
        let body = try await get(discovery.jwks_uri)
        guard let keys = try? JSONDecoder().decode(JSONWebKeySet.self, from: body) else {
            throw .unreachable("the provider's key set is not a JSON Web Key Set")
        }
        logger.info(
            "identity provider key set fetched", metadata: ["issuer": "\(issuer)", "keys": "\(keys.keys.count)"])
        cache.withLock {
            $0[issuer, default: Cached()].keys = keys
            $0[issuer, default: Cached()].keysFetchedAt = .now
        }
        return keys
    }

    /// Exchanges the authorization code (with the PKCE verifier) for the ID token.
    public func exchange(
        code: String, verifier: String, redirectURI: String, clientID: String, clientSecret: String,
        discovery: OIDCDiscovery
    ) async throws(OIDCError) -> String {
        try await checkAddress(discovery.token_endpoint)
        var request = HTTPClientRequest(url: discovery.token_endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", verifier), ("client_id", clientID),
        ]
        let methods = discovery.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
        if !methods.contains("client_secret_basic") && methods.contains("client_secret_post") {
            form.append(("client_secret", clientSecret))
        } else {
            let pair = Self.formEncode(clientID) + ":" + Self.formEncode(clientSecret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        }
        request.body = .bytes(ByteBuffer(string: form.map { "\($0)=\(Self.formEncode($1))" }.joined(separator: "&")))
        let (status, body) = try await send(request)
        guard status != .badRequest && status != .unauthorized else { throw .codeRefused }
        guard status == .ok else { throw .unreachable("the token endpoint answered \(status.code)") }
        struct TokenAnswer: Decodable { let id_token: String? }
        guard let answer = try? JSONDecoder().decode(TokenAnswer.self, from: body), let idToken = answer.id_token
        else { throw .unreachable("the token endpoint's answer carries no ID token") }
        return idToken
    }

    private func get(_ url: String) async throws(OIDCError) -> Data {
        try await checkAddress(url)
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, body) = try await send(request)
        guard status == .ok else { throw .unreachable("the provider answered \(status.code)") }
        return body
    }

    private func send(_ request: HTTPClientRequest) async throws(OIDCError) -> (HTTPResponseStatus, Data) {
        do {
            let response = try await Self.http.execute(request, timeout: .seconds(10), logger: logger)
            let body = try await response.body.collect(upTo: Self.maxAnswerBytes)
            return (response.status, Data(body.readableBytesView))
        } catch let error as OIDCError {
            throw error
        } catch {
            logger.notice("identity provider call failed", metadata: ["error": "\(type(of: error))"])
            throw .unreachable("the identity provider could not be reached")
        }
    }

    static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants client credentials too.
    static func formEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// `base` with these query parameters added.
    public static func url(_ base: String, adding parameters: [(String, String)]) -> String {
        let query = parameters.map { "\(formEncode($0))=\(formEncode($1))" }.joined(separator: "&")
        return base + (base.contains("?") ? "&" : "?") + query
    }
}
