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
        write(
            level: event.level, message: event.message.description, error: event.error.map { String(describing: $0) },
            fields: event.metadata?.map { ($0.key, Self.value($0.value)) } ?? [])
    }

    /// One line: `fields` (each key once) first, then the provider's metadata and this handler's under keys
    /// not taken yet — the event's over the provider's over the handler's — and the request's principal. The
    /// access line comes here straight (`RequestIDMiddleware`), without the metadata dictionary `Logger.info`
    /// would make and the merges `log(event:)` would then do: it is written for every request.
    func write(level: Logger.Level, message: String, error: String? = nil, fields: [(String, LogLine.Value)]) {
        var fields = fields
        func taken(_ key: String) -> Bool { fields.contains { $0.0 == key } }
        if let provided = metadataProvider?.get() {
            for (key, value) in provided where !taken(key) { fields.append((key, Self.value(value))) }
        }
        for (key, value) in metadata where !taken(key) { fields.append((key, Self.value(value))) }
        if !taken("principal"), let principal = RequestScope.principal {
            fields.append(("principal", .string(principal.display)))
        }
        sink.append(LogLine.encode(level: level.rawValue, label: label, message: message, error: error, fields: fields))
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
