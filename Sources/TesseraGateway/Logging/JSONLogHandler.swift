import Foundation
import Logging

/// Writes one JSON object per log line to standard error: time, level, label, message, metadata, and the
/// principal of the request the line is written in.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if merged["principal"] == nil, let principal = RequestScope.principal {
            merged["principal"] = .string(principal.display)
        }
        var object: [String: Any] = [
            "ts": Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date()),
            "level": event.level.rawValue,
            "label": label,
            "msg": event.message.description,
        ]
        if let error = event.error { object["error"] = String(describing: error) }
        for (key, value) in merged where object[key] == nil {
            object[key] = Self.json(value)
        }
        guard
            var data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else {
            return
        }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }

    static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }
}
