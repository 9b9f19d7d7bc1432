import Foundation
import OpenAPIKit30

extension InterfaceSpec {
    static func problems30(_ json: Data) -> [String] {
        check(
            decode: { try JSONDecoder().decode(OpenAPI.Document.self, from: json) },
            validate: { _ = try $0.validate(strict: false) },
            validationProblems: {
                ($0 as? ValidationErrorCollection)?.values.map { located($0.codingPathString, $0.reason) }
            })
    }
}
