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
        var fields: [(String, LogLine.Value)] = []
        fields.reserveCapacity((event.metadata?.count ?? 0) + metadata.count + Self.room)
        for (key, value) in event.metadata ?? [:] { fields.append((key, Self.value(value))) }
        write(
            level: event.level, message: event.message.description, error: event.error.map { String(describing: $0) },
            fields: consume fields)
    }

    /// Pairs a line adds to its fields (the principal, ts, level, label, msg, error), reserved up front.
    static let room = 6

    /// One line: `fields` (each key once) first, then the provider's metadata and this handler's under keys
    /// not taken yet — the event's over the provider's over the handler's — and the request's principal. The
    /// access line comes here straight (`RequestIDMiddleware`), without the metadata dictionary `Logger.info`
    /// would make and the merges `log(event:)` would then do: it is written for every request. `fields` is
    /// appended to where it is (`LogLine.encode`): an array with room for this handler's metadata and `room`
    /// more is never copied.
    func write(
        level: Logger.Level, message: String, error: String? = nil, fields: consuming [(String, LogLine.Value)]
    ) {
        if let provided = metadataProvider?.get() {
            for (key, value) in provided where !fields.contains(where: { $0.0 == key }) {
                fields.append((key, Self.value(value)))
            }
        }
        for (key, value) in metadata where !fields.contains(where: { $0.0 == key }) {
            fields.append((key, Self.value(value)))
        }
        if !fields.contains(where: { $0.0 == "principal" }), let principal = RequestScope.principal {
            fields.append(("principal", .string(principal.display)))
        }
        sink.append(
            LogLine.encode(level: level.rawValue, label: label, message: message, error: error, fields: consume fields))
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
