import Foundation

/// What an org may hold, set by platform admins; a quota not set is no limit.
public enum Quota: String, Sendable, CaseIterable, Codable {
    case members
    case apiKeys = "api_keys"
    case datasetRows = "dataset_rows"
    case artifactBytes = "artifact_bytes"
    case concurrentRuns = "concurrent_runs"
}

public struct OrgQuotas: Sendable, Equatable {
    public var limits: [Quota: Int]

    public init(_ limits: [Quota: Int] = [:]) {
        self.limits = limits
    }

    public subscript(_ quota: Quota) -> Int? { limits[quota] }

    /// 409 `quota-exceeded` when `used + adding` would pass the quota.
    public func check(_ quota: Quota, used: Int, adding: Int = 1) throws {
        guard let limit = limits[quota], used + adding > limit else { return }
        throw TesseraError.quotaExceeded(quota: quota.rawValue, limit: limit, used: used)
    }

    /// From the stored JSON object (`{"members": 10, …}`); unknown names are ignored.
    public init(json: String) throws {
        let object = try JSONDecoder().decode([String: Int].self, from: Data(json.utf8))
        limits = Dictionary(
            uniqueKeysWithValues: object.compactMap { key, value in Quota(rawValue: key).map { ($0, value) } })
    }

    public var json: String {
        (try? JSONText.encode(Dictionary(uniqueKeysWithValues: limits.map { ($0.key.rawValue, $0.value) }))) ?? "{}"
    }
}
