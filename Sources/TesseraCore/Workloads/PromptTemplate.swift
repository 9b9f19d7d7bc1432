/// A prompt's template text with `{{placeholder}}`s naming fields of a row's content.
public struct PromptTemplate: Sendable, Equatable {
    public let text: String
    /// The distinct placeholders, in order of first appearance.
    public let placeholders: [String]

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw Problem(description: "a {{ is never closed")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: " ")
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                name.first?.isNumber == false
            else {
                throw Problem(
                    description:
                        "'{{\(rest[open.upperBound..<close.lowerBound])}}' is not a placeholder name (letters, digits, _)"
                )
            }
            if !names.contains(name) { names.append(name) }
            rest = rest[close.upperBound...]
        }
        self.text = text
        self.placeholders = names
    }

    /// The placeholders a row with these fields cannot fill.
    public func missing(from fields: [String]) -> [String] {
        placeholders.filter { !fields.contains($0) }
    }

    /// The template with each placeholder replaced by the row's value (text as is, anything else as JSON).
    public func render(_ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out += rest[..<open.lowerBound]
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: " ")
            out += values[name] ?? ""
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
