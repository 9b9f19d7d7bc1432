import Foundation
import OpenAPIKit

extension InterfaceSpec {
    static func problems31(_ json: Data) -> [String] {
        let document: OpenAPI.Document
        do {
            document = try JSONDecoder().decode(OpenAPI.Document.self, from: json)
        } catch {
            let problem = OpenAPI.Error(from: error)
            return [located(problem.codingPathString, problem.localizedDescription)]
        }
        do {
            _ = try document.validate(strict: false)
            return []
        } catch let collection as ValidationErrorCollection {
            return collection.values.map { located($0.codingPathString, $0.reason) }
        } catch {
            return [located("", "\(error)")]
        }
    }
}
