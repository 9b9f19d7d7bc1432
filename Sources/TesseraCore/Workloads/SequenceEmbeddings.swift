import Foundation

/// Vectors a task computed for an embedding recipe: the answer of a task (any task) may carry
/// `sequence_embeddings`, `{"embedding_config_id", "vectors": [{"accession", "vector": [numbers]}]}`, which the engine
/// stores under that recipe (an `uploaded` one, of the vectors' dimension) when it records the answer — the way a
/// service computes a query set's embeddings (`POST …/embedding-configs/{id}/jobs` hands it the sequences).
public struct SequenceEmbeddings: Sendable, Equatable {
    public struct Vector: Sendable, Equatable {
        public let accession: String
        public let values: [Float]
    }

    public let configID: UUID
    public let vectors: [Vector]

    /// Vectors of one answer at most.
    public static let limit = 100_000

    /// The vectors of an answer (JSON text); nil when it has no `sequence_embeddings`.
    public static func parse(_ answer: String) -> Result<SequenceEmbeddings?, DockingPose.Problem> {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(answer.utf8))) as? [String: Any],
            let value = object["sequence_embeddings"]
        else { return .success(nil) }
        func problem(_ reason: String) -> Result<SequenceEmbeddings?, DockingPose.Problem> {
            .failure(DockingPose.Problem(reason: "sequence_embeddings\(reason)"))
        }
        guard let fields = value as? [String: Any] else { return problem(": must be an object") }
        guard let text = fields["embedding_config_id"] as? String, let config = UUID(uuidString: text) else {
            return problem(".embedding_config_id: must be a UUID")
        }
        guard let items = fields["vectors"] as? [Any], (1...limit).contains(items.count) else {
            return problem(".vectors: must be an array of 1 to \(limit) vectors")
        }
        var vectors: [Vector] = []
        vectors.reserveCapacity(items.count)
        var dimension: Int?
        for (index, item) in items.enumerated() {
            let path = ".vectors[\(index)]"
            guard let entry = item as? [String: Any] else { return problem("\(path): must be an object") }
            guard let accession = entry["accession"] as? String, (1...200).contains(accession.count),
                !accession.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { return problem("\(path).accession: 1–200 characters, none a control") }
            guard let raw = entry["vector"] as? [Any], !raw.isEmpty else {
                return problem("\(path).vector: must be an array of numbers")
            }
            var values: [Float] = []
            values.reserveCapacity(raw.count)
            for element in raw {
                guard let number = DockingPose.number(element), Float(number).isFinite else {
                    return problem("\(path).vector: holds a value no float32 holds")
                }
                values.append(Float(number))
            }
            guard values.count == (dimension ?? values.count) else {
                return problem("\(path).vector: \(values.count) values where the first vector has \(dimension ?? 0)")
            }
            dimension = values.count
            vectors.append(Vector(accession: accession, values: values))
        }
        return .success(SequenceEmbeddings(configID: config, vectors: vectors))
    }
}
