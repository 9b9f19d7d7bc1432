import Foundation

/// One pose of a docking step's answer: the answer of a task (any task) may carry `docking_results`, an array of
/// `{"ligand", "pose_rank", "affinity", "rmsd"?, "molecule_id"?, "pose_artifact_id"?, "metadata"?}`, which the engine
/// records as the job's docking results (seed 003) when it records the answer.
public struct DockingPose: Sendable, Equatable {
    public let ligand: String
    public let rank: Int
    /// kcal/mol (lower binds better).
    public let affinity: Double
    public let rmsd: Double?
    public let moleculeID: UUID?
    public let poseArtifactID: UUID?
    /// Canonical JSON text of an object.
    public let metadata: String

    public struct Problem: Error, Sendable, Equatable {
        /// Where and what, e.g. "docking_results[2].affinity: must be a finite number".
        public let reason: String
    }

    /// Poses of one answer at most.
    public static let limit = 10_000

    /// The poses of an answer (JSON text); none when it has no `docking_results`.
    public static func parse(_ answer: String) -> Result<[DockingPose], Problem> {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(answer.utf8))) as? [String: Any],
            let value = object["docking_results"]
        else { return .success([]) }
        guard let items = value as? [Any], items.count <= limit else {
            return .failure(Problem(reason: "docking_results: must be an array of at most \(limit) poses"))
        }
        var poses: [DockingPose] = []
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            let path = "docking_results[\(index)]"
            guard let pose = item as? [String: Any] else {
                return .failure(Problem(reason: "\(path): must be an object"))
            }
            guard let ligand = pose["ligand"] as? String, (1...200).contains(ligand.count) else {
                return .failure(Problem(reason: "\(path).ligand: must be a name of 1 to 200 characters"))
            }
            guard let rank = number(pose["pose_rank"]).flatMap({ Int(exactly: $0) }), rank >= 1 else {
                return .failure(Problem(reason: "\(path).pose_rank: must be a whole number from 1"))
            }
            guard let affinity = number(pose["affinity"]), affinity.isFinite else {
                return .failure(Problem(reason: "\(path).affinity: must be a finite number"))
            }
            var rmsd: Double?
            if let raw = pose["rmsd"], !(raw is NSNull) {
                guard let value = number(raw), value.isFinite else {
                    return .failure(Problem(reason: "\(path).rmsd: must be a finite number"))
                }
                rmsd = value
            }
            var ids: [String: UUID] = [:]
            for key in ["molecule_id", "pose_artifact_id"] {
                guard let raw = pose[key], !(raw is NSNull) else { continue }
                guard let text = raw as? String, let id = UUID(uuidString: text) else {
                    return .failure(Problem(reason: "\(path).\(key): must be a UUID"))
                }
                ids[key] = id
            }
            var metadata = "{}"
            if let raw = pose["metadata"], !(raw is NSNull) {
                guard raw is [String: Any], let bytes = try? CanonicalJSON.encode(raw) else {
                    return .failure(Problem(reason: "\(path).metadata: must be an object"))
                }
                metadata = String(decoding: bytes, as: UTF8.self)
            }
            guard seen.insert("\(rank) \(ligand)").inserted else {
                return .failure(Problem(reason: "\(path): ligand '\(ligand)' has pose_rank \(rank) twice"))
            }
            poses.append(
                DockingPose(
                    ligand: ligand, rank: rank, affinity: affinity, rmsd: rmsd, moleculeID: ids["molecule_id"],
                    poseArtifactID: ids["pose_artifact_id"], metadata: metadata))
        }
        return .success(poses)
    }

    /// A JSON number (not a boolean) as a double.
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !CanonicalJSON.isBoolean(number) else { return nil }
        return number.doubleValue
    }
}
