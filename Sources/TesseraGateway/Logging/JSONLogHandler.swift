import Foundation
import Logging

/// One JSON object per log line — time, level, label, message, metadata, and the principal of the request the
/// line is written in — handed to a `LogSink` (standard error's: buffered, written by a thread of its own).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String
    let sink: LogSink

    public init(label: String, level: Logger.Level = .info) {
        self.init(label: label, level: level, sink: .standardError)
    }

    init(label: String, level: Logger.Level, sink: LogSink) {
        (self.label, self.logLevel, self.sink) = (label, level, sink)
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
        sink.append(
            LogLine.encode(
                level: event.level.rawValue, label: label, message: event.message.description,
                error: event.error.map { String(describing: $0) }, fields: merged.map { ($0.key, Self.value($0.value)) }
            ))
    }

    static func value(_ value: Logger.MetadataValue) -> LogLine.Value {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(Self.value))
        case .dictionary(let d): .object(d.map { ($0.key, Self.value($0.value)) })
        }
    }
}
