import Foundation
import OpenAPIKit

/// A task definition's `interface_spec`: an OpenAPI 3.0 or 3.1 document, checked with OpenAPIKit.
public enum InterfaceSpec {
    /// Every problem found (empty when the document is valid), each naming where it is.
    public static func problems(_ json: Data) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            return ["interface_spec: must be a JSON object (an OpenAPI document)"]
        }
        guard let version = object["openapi"] as? String else {
            return ["interface_spec.openapi: missing; it names the OpenAPI version (3.0.x or 3.1.x)"]
        }
        if version.hasPrefix("3.1.") { return problems31(json) }
        if version.hasPrefix("3.0.") { return problems30(json) }
        return ["interface_spec.openapi: '\(version)' is not an OpenAPI 3.0.x or 3.1.x version"]
    }

    /// "interface_spec" followed by OpenAPIKit's coding path.
    static func located(_ path: String, _ reason: String) -> String {
        path.isEmpty ? "interface_spec: \(reason)" : "interface_spec\(path.hasPrefix(".") ? "" : ".")\(path): \(reason)"
    }

    /// Decodes the document (a failure is one problem, where OpenAPIKit stopped), then validates it (every
    /// problem). The two OpenAPI versions are separate modules with types of the same names, hence closures.
    static func check<Document>(
        decode: () throws -> Document, validate: (Document) throws -> Void, validationProblems: (any Error) -> [String]?
    ) -> [String] {
        let document: Document
        do {
            document = try decode()
        } catch {
            let problem = OpenAPI.Error(from: error)
            return [located(problem.codingPathString, problem.localizedDescription)]
        }
        do {
            try validate(document)
            return []
        } catch {
            return validationProblems(error) ?? [located("", "\(error)")]
        }
    }
}
