import Foundation

/// One operation of a task definition's interface_spec, found by its operationId.
///
/// The job engine calls it over HTTP and checks the request it sends and the response it gets against the
/// operation's `application/json` schemas. The schemas are kept as canonical JSON text (so the value is
/// `Sendable` and `Equatable`); any `$ref` in them resolves against the document passed to the checks.
public struct TaskOperation: Sendable, Equatable {
    /// The operation's `operationId`.
    public let operationID: String
    /// The HTTP method, upper-case: "POST", "GET", "DELETE", ...
    public let method: String
    /// The path template as written, e.g. "/dock" or "/executions/{execution_id}".
    public let path: String
    /// The `application/json` request body schema; nil when the operation takes no JSON body.
    public let requestSchema: String?
    /// The `application/json` response schema per status key: "200", "2XX" (ranges upper-cased) or "default".
    /// A response declared without a JSON schema maps to `true` (anything goes), so it still wins over a less
    /// specific key.
    public let responseSchemas: [String: String]

    /// The keys of a path item that hold operations.
    private static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Finds the operation with operationId `id` in the document (JSON object). nil when there is none.
    public static func find(_ id: String, in document: [String: Any]) -> TaskOperation? {
        guard let paths = document["paths"] as? [String: Any] else { return nil }
        for path in paths.keys.sorted() {
            guard let item = resolved(paths[path], in: document) else { continue }
            for method in methods {
                guard let operation = item[method] as? [String: Any], operation["operationId"] as? String == id
                else { continue }
                return TaskOperation(
                    operationID: id, method: method.uppercased(), path: path,
                    requestSchema: requestSchema(of: operation, in: document),
                    responseSchemas: responseSchemas(of: operation, in: document))
            }
        }
        return nil
    }

    /// The path with `{name}` placeholders replaced by values (each percent-encoded for a path segment);
    /// a placeholder with no value stays as it is.
    ///
    /// Only RFC 3986 unreserved characters stay unencoded; a value of "." or ".." has its dots encoded too,
    /// so that it cannot act as a dot segment when the path is joined to a base URL.
    public func path(filling values: [String: String]) -> String {
        var filled = ""
        var rest = Substring(path)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            filled += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            filled += values[name].map(Self.percentEncodedSegment) ?? String(rest[open...close])
            rest = rest[rest.index(after: close)...]
        }
        return filled + rest
    }

    /// Problems (empty = valid) of a request body against the request schema
    /// ("request" + JSON path prefix, e.g. "request.inputs.x: expected a number").
    public func requestProblems(_ body: Any, document: [String: Any]) -> [String] {
        guard let schema = requestSchema.flatMap(Self.jsonValue) else { return [] }
        return JSONSchemaCheck.problems(body, schema: schema, document: document, root: "request")
    }

    /// Problems of a response body for HTTP status `status` against the most specific response schema
    /// (exact code, then "2XX"-style range, then "default"); no schema for that status → no problems.
    public func responseProblems(_ body: Any, status: Int, document: [String: Any]) -> [String] {
        let text = responseSchemas[String(status)] ?? responseSchemas["\(status / 100)XX"] ?? responseSchemas["default"]
        guard let schema = text.flatMap(Self.jsonValue) else { return [] }
        return JSONSchemaCheck.problems(body, schema: schema, document: document, root: "response")
    }

    /// The object `value` is, following `$ref`s (to e.g. `#/components/requestBodies/X`); nil when it is none.
    private static func resolved(_ value: Any?, in document: [String: Any]) -> [String: Any]? {
        var current = value
        for _ in 0..<16 {  // a chain of references longer than this is taken for a cycle
            guard let object = current as? [String: Any] else { return nil }
            guard let ref = object["$ref"] as? String else { return object }
            current = JSONSchemaCheck.target(of: ref, in: document)
        }
        return nil
    }

    /// The `application/json` schema of a request body or response: `content["application/json"].schema`,
    /// else the schema of a media type such as "application/json; charset=utf-8".
    private static func jsonSchema(in object: [String: Any]) -> Any? {
        guard let content = object["content"] as? [String: Any] else { return nil }
        let key =
            content["application/json"] != nil
            ? "application/json"
            : content.keys.sorted().first { key in
                key.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
            }
        guard let key, let media = content[key] as? [String: Any] else { return nil }
        return media["schema"]
    }

    private static func requestSchema(of operation: [String: Any], in document: [String: Any]) -> String? {
        guard let body = resolved(operation["requestBody"], in: document), let schema = jsonSchema(in: body)
        else { return nil }
        return canonicalText(schema)
    }

    private static func responseSchemas(of operation: [String: Any], in document: [String: Any]) -> [String: String] {
        guard let responses = operation["responses"] as? [String: Any] else { return [:] }
        var schemas: [String: String] = [:]
        for (key, response) in responses {
            guard let status = statusKey(key) else { continue }  // e.g. an "x-" extension
            let schema = resolved(response, in: document).flatMap(jsonSchema(in:)) ?? true
            schemas[status] = canonicalText(schema) ?? "true"
        }
        return schemas
    }

    /// "200", "2XX" (from "2XX" or "2xx") or "default"; nil for a key that names no status.
    private static func statusKey(_ key: String) -> String? {
        if key == "default" { return key }
        let characters = Array(key.uppercased())
        guard characters.count == 3, let first = characters.first, ("1"..."5").contains(first) else { return nil }
        if characters[1...] == ["X", "X"] { return String(characters) }
        return characters.allSatisfy { $0.isASCII && $0.isNumber } ? key : nil
    }

    /// A JSON value as canonical text; nil only for values JSON cannot hold, which a parsed document has not.
    private static func canonicalText(_ value: Any) -> String? {
        (try? CanonicalJSON.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func jsonValue(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
    }

    private static func percentEncodedSegment(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF")
        let isDotSegment = value == "." || value == ".."
        var encoded = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: ".") where !isDotSegment:
                encoded.append(".")
            default:
                encoded += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0F)])
            }
        }
        return encoded
    }
}

/// A JSON Schema check of the subset OpenAPI 3.0 and 3.1 task interfaces use.
///
/// Supported: `type` (a name or, as in 3.1, an array of names), `nullable` (3.0: adds "null" to `type`),
/// `enum`, `const`, `properties`, `required`, `additionalProperties` (not applied next to `patternProperties`),
/// `items`, `minItems`, `maxItems`, `minLength`, `maxLength` (in Unicode code points), `minimum`, `maximum`,
/// `exclusiveMinimum` and `exclusiveMaximum` (3.1 numbers and 3.0 booleans), `allOf`, `anyOf`, `oneOf`, `not`,
/// `$ref` (siblings apply in 3.1 and are ignored in 3.0) and the boolean schemas `true` and `false`.
/// Every other keyword is ignored, `format` included. `pattern` is ignored on purpose: task authors'
/// regular expressions are not run here (a backtracking pattern can take exponential time).
/// Numbers are compared as `Double`s.
public enum JSONSchemaCheck {
    /// The most problems one check reports.
    static let problemLimit = 20
    /// How deep subschemas may nest along one path ($refs, allOf, properties, items, ...); bounds $ref cycles.
    static let depthLimit = 64
    /// How many subschemas one check may visit (bounds $refs that branch through anyOf and the like);
    /// generous, since a large array visits its item schema once per element.
    static let visitLimit = 1_000_000

    /// Every problem of `instance` (a value from JSONSerialization: NSDictionary/[String: Any], [Any], String,
    /// NSNumber incl. booleans, NSNull) against `schema`, each "path: reason" with path starting at `root`
    /// (e.g. "request", then "request.params.n", "request.items[2]"). `$ref`s of the form
    /// "#/components/schemas/Name" (and any "#/..." JSON pointer) resolve against `document`. Stops after at
    /// most 20 problems, or when the schema nests too deeply (a $ref cycle) or takes too long to check.
    public static func problems(_ instance: Any, schema: Any, document: [String: Any], root: String) -> [String] {
        problems(instance, schema: schema, document: document, root: root, visitLimit: visitLimit)
    }

    /// `problems(_:schema:document:root:)` with another visit limit (for tests).
    static func problems(
        _ instance: Any, schema: Any, document: [String: Any], root: String, visitLimit: Int
    ) -> [String] {
        let ignoresRefSiblings = (document["openapi"] as? String)?.hasPrefix("3.0.") ?? false
        var checker = Checker(
            document: document, ignoresRefSiblings: ignoresRefSiblings, limit: problemLimit,
            effort: Effort(visitLimit: visitLimit))
        checker.check(instance, schema, at: root, depth: 0)
        guard let abandoned = checker.effort.abandoned else { return checker.problems }
        return checker.problems.prefix(problemLimit - 1) + [abandoned]
    }

    /// The value a local reference ("#/components/schemas/Name", any "#/..." JSON pointer with `~0`, `~1` and
    /// percent escapes) points to in `document`; nil for other references and for pointers to nothing.
    static func target(of ref: String, in document: [String: Any]) -> Any? {
        guard ref.hasPrefix("#") else { return nil }
        let pointer = ref.dropFirst()
        if pointer.isEmpty { return document }
        guard pointer.hasPrefix("/") else { return nil }
        var current: Any = document
        for part in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var token = String(part)
            if token.utf8.contains(UInt8(ascii: "%")) { token = token.removingPercentEncoding ?? token }
            if token.utf8.contains(UInt8(ascii: "~")) {
                token = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
            if let object = current as? [String: Any], let next = object[token] {
                current = next
            } else if let array = current as? [Any], token.allSatisfy({ $0.isASCII && $0.isNumber }),
                let index = Int(token), array.indices.contains(index)
            {
                current = array[index]
            } else {
                return nil
            }
        }
        return current
    }
}

/// The kinds of JSON value; "integer" is a number with no fractional part, not a kind of its own.
private enum JSONKind: String {
    case null, boolean, number, string, array, object

    /// The kind of a value from JSONSerialization (or a Swift `Bool`, number or `String`); nil for other values.
    ///
    /// Strings and collections are tested first: casting them to a class (`NSNumber`, `NSNull`) bridges them,
    /// which on Linux costs microseconds per dictionary.
    init?(of value: Any) {
        if value is String {
            self = .string
        } else if value is [String: Any] {
            self = .object
        } else if value is [Any] {
            self = .array
        } else if let number = value as? NSNumber {
            self = CanonicalJSON.isBoolean(number) ? .boolean : .number
        } else if value is NSNull {
            self = .null
        } else {
            return nil
        }
    }

    /// The name with its article, for messages: "a string", "an array", "null".
    var spoken: String {
        switch self {
        case .null: return "null"
        case .array, .object: return "an \(rawValue)"
        default: return "a \(rawValue)"
        }
    }
}

/// The value of a boolean keyword (`exclusiveMinimum: true`) or boolean schema; nil when it is not a boolean.
private func boolean(_ value: Any?) -> Bool? {
    guard let value, JSONKind(of: value) == .boolean else { return nil }
    return (value as? NSNumber)?.boolValue
}

/// The value of a numeric keyword; nil when it is not a number (booleans are not).
private func number(_ value: Any?) -> Double? {
    guard let value, JSONKind(of: value) == .number else { return nil }
    return (value as? NSNumber)?.doubleValue
}

/// The value of a count keyword (`minItems`, `maxLength`, ...); nil when it is not a whole number.
private func count(_ value: Any?) -> Int? {
    number(value).flatMap { Int(exactly: $0) }
}

/// Whether two JSON values are equal as JSON Schema's `enum` and `const` compare them: numbers by value
/// (1 equals 1.0), never a boolean and a number, objects regardless of key order.
private func jsonEqual(_ a: Any, _ b: Any) -> Bool {
    guard let kind = JSONKind(of: a), JSONKind(of: b) == kind else { return false }
    switch kind {
    case .null:
        return true
    case .boolean:
        return boolean(a) == boolean(b)
    case .number:
        return number(a) == number(b)
    case .string:
        return a as? String == b as? String
    case .array:
        guard let a = a as? [Any], let b = b as? [Any], a.count == b.count else { return false }
        return zip(a, b).allSatisfy { jsonEqual($0, $1) }
    case .object:
        guard let a = a as? [String: Any], let b = b as? [String: Any], Set(a.keys) == Set(b.keys) else {
            return false
        }
        return a.allSatisfy { key, value in b[key].map { jsonEqual(value, $0) } ?? false }
    }
}

/// A value as compact JSON for messages, e.g. `["a","b"]` or `1.5`.
private func jsonText(_ value: Any) -> String {
    (try? CanonicalJSON.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
}

/// The path of an object member: "request.inputs" for a plain key, `request["a key"]` for any other.
private func member(_ path: String, _ key: String) -> String {
    let plain = !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    return plain ? "\(path).\(key)" : "\(path)[\(jsonText(key))]"
}

/// The work one check (with all its sub-checks) has done, shared so that limits hold across `anyOf` branches.
private final class Effort {
    let visitLimit: Int
    var visits = 0
    /// Why the check stopped early, with the path where it did; nil while it goes on.
    var abandoned: String?

    init(visitLimit: Int) { self.visitLimit = visitLimit }
}

/// One run of the check, collecting problems up to `limit`.
private struct Checker {
    let document: [String: Any]
    let ignoresRefSiblings: Bool
    let limit: Int
    let effort: Effort
    var problems: [String] = []

    private mutating func report(_ path: String, _ reason: String) {
        guard problems.count < limit, effort.abandoned == nil else { return }
        problems.append("\(path): \(reason)")
    }

    /// Whether `instance` meets `schema`, by a sub-check that stops at its first problem.
    private func matches(_ instance: Any, _ schema: Any, at path: String, depth: Int) -> Bool {
        var sub = Checker(document: document, ignoresRefSiblings: ignoresRefSiblings, limit: 1, effort: effort)
        sub.check(instance, schema, at: path, depth: depth)
        return sub.problems.isEmpty
    }

    mutating func check(_ instance: Any, _ schema: Any, at path: String, depth: Int) {
        guard problems.count < limit, effort.abandoned == nil else { return }
        effort.visits += 1
        if effort.visits > effort.visitLimit {
            effort.abandoned = "\(path): the schema takes too long to check (over \(effort.visitLimit) steps)"
            return
        }
        if depth > JSONSchemaCheck.depthLimit {
            effort.abandoned = "\(path): subschemas nest over \(JSONSchemaCheck.depthLimit) deep (a $ref cycle?)"
            return
        }
        guard let schema = schema as? [String: Any] else {
            if boolean(schema) == false { report(path, "no value is allowed here") }
            return  // `true`, or not a schema
        }
        if let ref = schema["$ref"] as? String {
            if let target = JSONSchemaCheck.target(of: ref, in: document) {
                check(instance, target, at: path, depth: depth + 1)
            } else {
                report(path, "cannot resolve $ref '\(ref)'")
            }
            if ignoresRefSiblings { return }
        }
        guard let kind = JSONKind(of: instance) else { return }
        checkType(instance, kind, schema, at: path)
        if let options = schema["enum"] as? [Any], !options.contains(where: { jsonEqual($0, instance) }) {
            report(path, options.count <= 10 ? "must be one of \(jsonText(options))" : "is not an allowed value")
        }
        if let expected = schema["const"], !jsonEqual(expected, instance) {
            report(path, "must be \(jsonText(expected))")
        }
        switch kind {
        case .number: checkNumber(instance, schema, at: path)
        case .string: checkString(instance, schema, at: path)
        case .array: checkArray(instance, schema, at: path, depth: depth)
        case .object: checkObject(instance, schema, at: path, depth: depth)
        case .null, .boolean: break
        }
        checkCombinations(instance, schema, at: path, depth: depth)
    }

    private mutating func checkType(_ instance: Any, _ kind: JSONKind, _ schema: [String: Any], at path: String) {
        var types: [String]
        if let type = schema["type"] as? String {
            types = [type]
        } else if let list = schema["type"] as? [Any], !list.isEmpty {
            types = list.compactMap { $0 as? String }
            if types.isEmpty { return }
        } else {
            return
        }
        if boolean(schema["nullable"]) == true { types.append("null") }
        let isInteger = number(instance).map { $0.isFinite && $0 == $0.rounded() } ?? false
        let fits = types.contains { type in type == kind.rawValue || (type == "integer" && isInteger) }
        if !fits {
            let expected = types.map { type in
                type == "integer" ? "an integer" : JSONKind(rawValue: type)?.spoken ?? type
            }
            report(path, "expected \(expected.joined(separator: " or ")), got \(kind.spoken)")
        }
    }

    /// `minimum` and `maximum` (strict under the 3.0 booleans), `exclusiveMinimum` and `exclusiveMaximum` (3.1).
    private mutating func checkNumber(_ instance: Any, _ schema: [String: Any], at path: String) {
        guard let value = number(instance) else { return }
        let strictMinimum = boolean(schema["exclusiveMinimum"]) == true
        let strictMaximum = boolean(schema["exclusiveMaximum"]) == true
        if let bound = number(schema["minimum"]), strictMinimum ? value <= bound : value < bound {
            report(path, "must be \(strictMinimum ? "greater than" : "at least") \(jsonText(bound))")
        }
        if let bound = number(schema["maximum"]), strictMaximum ? value >= bound : value > bound {
            report(path, "must be \(strictMaximum ? "less than" : "at most") \(jsonText(bound))")
        }
        if let bound = number(schema["exclusiveMinimum"]), value <= bound {
            report(path, "must be greater than \(jsonText(bound))")
        }
        if let bound = number(schema["exclusiveMaximum"]), value >= bound {
            report(path, "must be less than \(jsonText(bound))")
        }
    }

    private mutating func checkString(_ instance: Any, _ schema: [String: Any], at path: String) {
        guard let length = (instance as? String)?.unicodeScalars.count else { return }
        if let minimum = count(schema["minLength"]), length < minimum {
            report(path, "must be at least \(minimum) characters long, is \(length)")
        }
        if let maximum = count(schema["maxLength"]), length > maximum {
            report(path, "must be at most \(maximum) characters long, is \(length)")
        }
    }

    private mutating func checkArray(_ instance: Any, _ schema: [String: Any], at path: String, depth: Int) {
        guard let elements = instance as? [Any] else { return }
        if let minimum = count(schema["minItems"]), elements.count < minimum {
            report(path, "must have at least \(minimum) items, has \(elements.count)")
        }
        if let maximum = count(schema["maxItems"]), elements.count > maximum {
            report(path, "must have at most \(maximum) items, has \(elements.count)")
        }
        if let items = schema["items"], items is [String: Any] || boolean(items) != nil {
            for (i, element) in elements.enumerated() {
                check(element, items, at: "\(path)[\(i)]", depth: depth + 1)
            }
        }
    }

    private mutating func checkObject(_ instance: Any, _ schema: [String: Any], at path: String, depth: Int) {
        guard let object = instance as? [String: Any] else { return }
        for case let key as String in schema["required"] as? [Any] ?? [] where object[key] == nil {
            report(member(path, key), "required property is missing")
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        for key in properties.keys.sorted() {
            guard let value = object[key], let property = properties[key] else { continue }
            check(value, property, at: member(path, key), depth: depth + 1)
        }
        guard let additional = schema["additionalProperties"], schema["patternProperties"] == nil else { return }
        for key in object.keys.sorted() where properties[key] == nil {
            guard let value = object[key] else { continue }
            if boolean(additional) == false {
                report(member(path, key), "property is not allowed (additionalProperties is false)")
            } else {
                check(value, additional, at: member(path, key), depth: depth + 1)
            }
        }
    }

    private mutating func checkCombinations(_ instance: Any, _ schema: [String: Any], at path: String, depth: Int) {
        for part in schema["allOf"] as? [Any] ?? [] {
            check(instance, part, at: path, depth: depth + 1)
        }
        if let options = schema["anyOf"] as? [Any],
            !options.contains(where: { matches(instance, $0, at: path, depth: depth + 1) })
        {
            report(path, "matches none of the anyOf schemas")
        }
        if let options = schema["oneOf"] as? [Any] {
            let matching = options.indices.filter { matches(instance, options[$0], at: path, depth: depth + 1) }
            if matching.isEmpty {
                report(path, "matches none of the oneOf schemas")
            } else if matching.count > 1 {
                let which = matching.map(String.init).joined(separator: ", ")
                report(path, "matches more than one of the oneOf schemas (numbers \(which), counting from 0)")
            }
        }
        if let excluded = schema["not"], matches(instance, excluded, at: path, depth: depth + 1) {
            report(path, "must not match the schema under not")
        }
    }
}
