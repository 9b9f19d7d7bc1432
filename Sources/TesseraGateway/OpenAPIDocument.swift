import Foundation
import OpenAPIRuntime
import Yams

/// The contract (`openapi.yaml`, compiled into the gateway), as served at `/openapi.json`,
/// and the route table it implies.
struct OpenAPIDocument: Sendable {
    let json: OpenAPIObjectContainer
    let routes: RouteTable

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func load() throws -> OpenAPIDocument {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "openapi.yaml missing from the gateway's resources"])
        }
        return try parse(yaml: String(contentsOf: url, encoding: .utf8))
    }

    static func parse(yaml: String) throws -> OpenAPIDocument {
        let tree = jsonCompatible(try Yams.load(yaml: yaml) ?? [:])
        let data = try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys])
        let json = try JSONDecoder().decode(OpenAPIObjectContainer.self, from: data)
        var templates: [(String, [String])] = []
        if let paths = (tree as? [String: Any])?["paths"] as? [String: Any] {
            for (path, item) in paths {
                let methods = ((item as? [String: Any])?.keys ?? [:].keys).filter { httpMethods.contains($0) }
                templates.append((path, methods.map { $0.uppercased() }.sorted()))
            }
        }
        return OpenAPIDocument(json: json, routes: RouteTable(templates: templates))
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

/// Path templates of the contract (`/v1/orgs/{org}`) and their methods, used to tell 405 from 404.
struct RouteTable: Sendable {
    struct Entry: Sendable {
        let segments: [Substring?]  // nil: a `{parameter}`
        let methods: [String]
    }

    let entries: [Entry]

    init(templates: [(String, [String])]) {
        entries = templates.map { path, methods in
            Entry(
                segments: path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? nil : $0 },
                methods: methods)
        }
    }

    /// The methods the contract defines for a concrete path, or nil when no template matches.
    func allowedMethods(for path: String) -> [String]? {
        let parts = path.split(separator: "/")
        var found: Set<String> = []
        var matched = false
        for entry in entries where entry.segments.count == parts.count {
            if zip(entry.segments, parts).allSatisfy({ $0 == nil || $0 == $1 }) {
                matched = true
                found.formUnion(entry.methods)
            }
        }
        return matched ? found.sorted() : nil
    }
}
