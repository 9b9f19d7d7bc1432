import Logging
import PostgresNIO
import Synchronization
import Tracing

/// Whether this process exports traces (set once at start-up by `tessera serve` when the OpenTelemetry environment
/// asks for them). While it is off, traced work runs with no span made at all: not even the no-op tracer is asked.
public enum TraceSwitch {
    static let state = Atomic<Bool>(false)

    public static var isOn: Bool { state.load(ordering: .relaxed) }

    public static func turnOn() { state.store(true, ordering: .relaxed) }
}

extension PostgresConnection {
    /// `query`, in a client span of its own when tracing is on: named after the statement's first keyword
    /// (`SELECT`, `INSERT` …), carrying its text — placeholders only: bound values never reach a span.
    /// The span ends when the server has answered the statement's first rows.
    @discardableResult
    public func sql(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        guard TraceSwitch.isOn else { return try await self.query(query, logger: logger, file: file, line: line) }
        return try await withSpan(Self.operation(of: query.sql), ofKind: .client) { span in
            span.attributes["db.system.name"] = "postgresql"
            span.attributes["db.query.text"] = query.sql
            return try await self.query(query, logger: logger, file: file, line: line)
        }
    }

    /// A statement's first keyword, upper-cased (`SELECT`, `WITH` …): its span's name.
    static func operation(of sql: String) -> String {
        let word = sql.drop { $0.isWhitespace }.prefix { $0.isLetter }
        return word.isEmpty ? "SQL" : word.uppercased()
    }
}

/// A named piece of database work (an org database's connection held for one unit of work, a relay pass) in a
/// span of its own when tracing is on, with `attributes`; just `body` otherwise (the attributes not even made).
public func traced<T: Sendable>(
    _ name: String, attributes: @autoclosure () -> [String: String] = [:],
    isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async throws -> T {
    guard TraceSwitch.isOn else { return try await body() }
    let attributes = attributes()
    return try await withSpan(name, ofKind: .internal) { span in
        for (key, value) in attributes { span.attributes[key] = value }
        return try await body()
    }
}
