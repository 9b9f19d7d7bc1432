import Foundation
import OpenAPIRuntime
import Synchronization
import TesseraCore
import Yams

/// The contract (`openapi.yaml`, compiled into the gateway), as served at `/openapi.json`,
/// and the route table it implies.
struct OpenAPIDocument: Sendable {
    let json: OpenAPIObjectContainer
    let routes: RouteTable

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func load() throws -> OpenAPIDocument {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "openapi.yaml missing from the gateway's resources"])
        }
        return try parse(yaml: String(contentsOf: url, encoding: .utf8))
    }

    static func parse(yaml: String) throws -> OpenAPIDocument {
        let tree = jsonCompatible(try Yams.load(yaml: yaml) ?? [:])
        let data = try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys])
        let json = try JSONDecoder().decode(OpenAPIObjectContainer.self, from: data)
        var operations: [RouteTable.Operation] = []
        if let paths = (tree as? [String: Any])?["paths"] as? [String: Any] {
            for (path, item) in paths {
                for (method, operation) in (item as? [String: Any]) ?? [:] where httpMethods.contains(method) {
                    let declared = (operation as? [String: Any])?[RouteTable.permissionKey] as? String
                    operations.append(
                        .init(
                            path: path, method: method.uppercased(),
                            rule: try RouteTable.rule(declared, path: path, method: method.uppercased())))
                }
            }
        }
        return OpenAPIDocument(json: json, routes: RouteTable(operations))
    }

    /// YAML may key mappings by numbers (response codes); JSON needs strings.
    static func jsonCompatible(_ value: Any) -> Any {
        switch value {
        case let dict as [AnyHashable: Any]:
            var out: [String: Any] = [:]
            for (k, v) in dict { out[String(describing: k.base)] = jsonCompatible(v) }
            return out
        case let array as [Any]:
            return array.map(jsonCompatible)
        default:
            return value
        }
    }
}

/// The contract's operations: path templates (`/v1/orgs/{org}`), methods, and the access rule each
/// declares with `x-tessera-permission`. Tells 405 from 404, and tells the access middleware what a
/// matched route needs.
struct RouteTable: Sendable {
    static let permissionKey = "x-tessera-permission"

    /// What a route needs: nothing, any valid credentials, a platform admin, or permissions in the path's
    /// `{org}` — one, or several named with spaces between (`evaluations.write jobs.write`), all needed.
    enum Rule: Sendable, Equatable {
        case `public`
        case authenticated
        case platform
        case org(Permission, also: [Permission] = [])

        /// As `x-tessera-permission` names it.
        var permissionName: String {
            switch self {
            case .public: "public"
            case .authenticated: "authenticated"
            case .platform: "platform"
            case .org(let permission, let also): ([permission] + also).map(\.rawValue).joined(separator: " ")
            }
        }
    }

    struct Operation: Sendable {
        let path: String
        let method: String
        let rule: Rule
    }

    struct RuleError: Error, CustomStringConvertible {
        let description: String
    }

    private let templates: [(segments: [Substring?], methods: [String])]
    private let rules: [String: Rule]

    init(_ operations: [Operation]) {
        var byPath: [String: [String]] = [:]
        var rules: [String: Rule] = [:]
        for op in operations {
            byPath[op.path, default: []].append(op.method)
            rules[Self.key(Self.segments(op.path), op.method)] = op.rule
        }
        self.templates = byPath.map { (Self.segments($0.key), $0.value.sorted()) }
        self.rules = rules
    }

    init(templates: [(String, [String])]) {
        self.init(
            templates.flatMap { path, methods in methods.map { Operation(path: path, method: $0, rule: .public) } })
    }

    /// Parses an operation's declared rule; every operation must declare one.
    static func rule(_ declared: String?, path: String, method: String) throws -> Rule {
        switch declared {
        case nil:
            throw RuleError(description: "\(method) \(path) declares no \(permissionKey) in openapi.yaml")
        case "public":
            return .public
        case "authenticated":
            return .authenticated
        case "platform":
            return .platform
        case let names?:
            var permissions: [Permission] = []
            for name in names.split(separator: " ") {
                guard let permission = Permission(rawValue: String(name)) else {
                    throw RuleError(description: "\(method) \(path): unknown permission '\(name)'")
                }
                if !permissions.contains(permission) { permissions.append(permission) }
            }
            guard let first = permissions.first else {
                throw RuleError(description: "\(method) \(path): \(permissionKey) names no permission")
            }
            guard path.contains("{org}") else {
                throw RuleError(description: "\(method) \(path): an org permission needs an {org} in the path")
            }
            return .org(first, also: Array(permissions.dropFirst()))
        }
    }

    /// Segments of a template, `nil` for a parameter (`{org}` in OpenAPI, `:org` or `{org}` in the router).
    static func segments(_ path: String) -> [Substring?] {
        path.split(separator: "/").map { $0.hasPrefix("{") || $0.hasPrefix(":") ? nil : $0 }
    }

    static func key(_ segments: [Substring?], _ method: String) -> String {
        method + " /" + segments.map { $0.map(String.init) ?? "*" }.joined(separator: "/")
    }

    /// The rule of the route the router matched (its endpoint path), or nil for no route. Looked up by the
    /// endpoint as the router spells it, once per endpoint and method; then from `resolved` without splitting
    /// or allocating (this runs on every request).
    func rule(endpoint: String?, method: String) -> Rule? {
        guard let endpoint else { return nil }
        if let known = resolved.rules.withLock({ $0[endpoint]?[method] }) { return known }
        let rule = rules[Self.key(Self.segments(endpoint), method)]
        resolved.rules.withLock { $0[endpoint, default: [:]][method] = .some(rule) }
        return rule
    }

    /// Rules already looked up, by endpoint and method (nil inside: no rule).
    final class Resolved: Sendable {
        let rules = Mutex<[String: [String: Rule?]]>([:])
    }
    private let resolved = Resolved()

    /// The methods the contract defines for a concrete path, or nil when no template matches.
    func allowedMethods(for path: String) -> [String]? {
        let parts = path.split(separator: "/")
        var found: Set<String> = []
        var matched = false
        for template in templates where template.segments.count == parts.count {
            if zip(template.segments, parts).allSatisfy({ $0 == nil || $0 == $1 }) {
                matched = true
                found.formUnion(template.methods)
            }
        }
        return matched ? found.sorted() : nil
    }
}
