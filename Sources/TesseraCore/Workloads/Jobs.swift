import Crypto
import Foundation

/// A job's (or a task execution's) status: PENDING → RUNNING → COMPLETED | FAILED, PENDING | RUNNING → CANCELED.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case pending = "PENDING"
    case running = "RUNNING"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case canceled = "CANCELED"

    public var isTerminal: Bool { self == .completed || self == .failed || self == .canceled }

    /// Whether the machine allows moving from this status to `next` (staying put is not a move).
    public func canMove(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.pending, .canceled), (.running, .completed), (.running, .failed),
            (.running, .canceled):
            true
        default: false
        }
    }
}

/// What identifies a job's work: SHA-256 of the canonical JSON of its pipeline version, params and inputs
/// (sorted by name; each with its URI, content type and checksum), so the same request finds the same result.
public struct JobSignature: Sendable, Equatable {
    public let canonical: String
    public let digest: [UInt8]

    public struct Input: Sendable {
        public let name: String
        public let uri: String
        public let contentType: String
        public let sha256: String?

        public init(name: String, uri: String, contentType: String, sha256: String?) {
            self.name = name
            self.uri = uri
            self.contentType = contentType
            self.sha256 = sha256
        }
    }

    /// `params` is a value from `JSONSerialization` (an object).
    public init(pipelineVersion: UUID, params: Any, inputs: [Input]) throws {
        let files: [[String: Any]] = inputs.sorted { $0.name < $1.name }.map { input in
            var file: [String: Any] = ["name": input.name, "uri": input.uri, "content_type": input.contentType]
            file["sha256"] = input.sha256.map { $0.lowercased() } ?? NSNull()
            return file
        }
        let value: [String: Any] = [
            "pipeline_version_id": pipelineVersion.uuidString.lowercased(), "params": params, "inputs": files,
        ]
        let bytes = try CanonicalJSON.encode(value)
        canonical = String(decoding: bytes, as: UTF8.self)
        digest = SHA256.hash(data: bytes).bytes
    }
}
