import Foundation

/// The fixture written by Tests/Fixtures/make_classification.py with scikit-learn and NumPy.
public struct ClassificationFixture: Decodable, Sendable {
    public struct Case: Decodable, Sendable {
        public struct Expected: Decodable, Sendable {
            public struct Average: Decodable, Sendable { public let precision, recall, f1: Double }
            public struct Latency: Decodable, Sendable { public let mean, p50, p95, p99: Double }
            public let labels: [String]
            public let accuracy: Double
            public let precision, recall, f1: [Double]
            public let support: [Int]
            public let macro, micro, weighted: Average
            public let confusion_matrix: [[Int]]
            public let latency: Latency
        }
        public let name: String
        public let truth: [String]
        public let predicted: [String?]
        public let latencies: [Double]
        public let expected: Expected
    }
    public let cases: [Case]

    public static func load() throws -> ClassificationFixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/classification.json")
        return try JSONDecoder().decode(ClassificationFixture.self, from: Data(contentsOf: url))
    }
}
