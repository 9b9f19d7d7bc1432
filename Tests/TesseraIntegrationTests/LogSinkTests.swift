import Foundation
import Logging
import Testing

@testable import TesseraGateway

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines are JSON written by hand (escaped, keys sorted) into a bounded buffer that a thread of its own
/// writes out; a full buffer drops and counts, never blocks.
@Suite struct LogSinkTests {
    @Test func aLineIsJSONWithItsKeysSortedAndItsTextEscaped() throws {
        var time = timespec()
        time.tv_sec = 1_796_045_405
        time.tv_nsec = 7_000_000
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{07} slash /a/b Éléphant"
        let line = LogLine.encode(
            level: "info", label: "tessera", message: tricky, error: "boom",
            fields: [
                ("zeta", .string("last")), ("alpha", .array([.string("x"), .object([("b", .string("2"))])])),
                ("msg", .string("a field may not replace the message")),
            ], at: time)
        #expect(line.last == 0x0A && line.dropLast().contains(0x0A) == false)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(#"slash /a/b"#) && text.contains(#"\u0007"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["msg"] as? String == tricky)
        #expect(object["error"] as? String == "boom" && object["zeta"] as? String == "last")
        #expect((object["alpha"] as? [Any])?.count == 2)
        #expect(object["ts"] as? String == "2026-11-30T13:30:05.007Z")
        let keys = ["alpha", "error", "label", "level", "msg", "ts", "zeta"]
        let positions = keys.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test func anErrorInTheMetadataStaysUnlessTheEventCarriesOne() throws {
        let kept = LogLine.encode(level: "warning", label: "t", message: "m", fields: [("error", .string("e1"))])
        let replaced = LogLine.encode(
            level: "warning", label: "t", message: "m", error: "e2", fields: [("error", .string("e1"))])
        let a = try #require(try JSONSerialization.jsonObject(with: Data(kept)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(replaced)) as? [String: Any])
        #expect(a["error"] as? String == "e1" && b["error"] as? String == "e2")
        #expect(String(decoding: replaced, as: UTF8.self).components(separatedBy: "\"error\"").count == 2)
    }

    @Test func accessLineDurationsHaveThreeDecimals() {
        typealias Middleware = RequestIDMiddleware<AppRequestContext>
        #expect(Middleware.milliseconds(.microseconds(12_345)) == "12.345")
        #expect(Middleware.milliseconds(.zero) == "0.000")
        #expect(Middleware.milliseconds(.seconds(2) + .microseconds(7)) == "2000.007")
        #expect(Middleware.milliseconds(.nanoseconds(999)) == "0.000")
    }

    @Test func aFullBufferDropsAndCountsAndNothingWaits() throws {
        let path = NSTemporaryDirectory() + "tessera-log-\(UUID().uuidString)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { unlink(path) }  // the descriptor stays open: the sink's thread outlives the test
        let sink = LogSink(fd: fd, capacity: 300, interval: .seconds(3600))
        let line = LogLine.encode(level: "info", label: "t", message: String(repeating: "x", count: 60))
        #expect(line.count > 100 && line.count <= 150)
        #expect(sink.append(line) && sink.append(line))
        #expect(!sink.append(line) && !sink.append(line))
        // Nothing is written before the interval (an hour here) or an explicit flush.
        Thread.sleep(forTimeInterval: 0.2)
        #expect(try String(contentsOfFile: path, encoding: .utf8).isEmpty)
        sink.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any])
        #expect(summary["dropped"] as? String == "2" && summary["level"] as? String == "warning")
        // Room again after the write.
        #expect(sink.append(line))
    }

    /// The access line goes to the JSON handler without `Logger`; it must be the line `Logger.info` writes.
    @Test func theAccessLineIsTheLineLoggerWouldWrite() throws {
        let path = NSTemporaryDirectory() + "tessera-log-\(UUID().uuidString)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { unlink(path) }  // the descriptor stays open: the sink's thread outlives the test
        let sink = LogSink(fd: fd, interval: .seconds(3600))
        var logger = Logger(label: "t") { JSONLogHandler(label: $0, level: .info, sink: sink) }
        logger[metadataKey: "request_id"] = "r-1"
        logger[metadataKey: "status"] = "the line's own field wins"
        let fields = [("method", "GET"), ("path", "/v1/x"), ("status", "200"), ("duration_ms", "0.125")]
        RequestIDMiddleware<AppRequestContext>.logAccess(
            method: "GET", path: "/v1/x", status: "200", milliseconds: "0.125", to: logger)
        logger.info("request", metadata: Logger.Metadata(uniqueKeysWithValues: fields.map { ($0.0, .string($0.1)) }))
        sink.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let objects = try lines.map { line in
            var object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            #expect(object.removeValue(forKey: "ts") != nil)
            return object
        }
        #expect(objects.first == objects.last)
        #expect(
            objects.first
                == [
                    "level": "info", "label": "t", "msg": "request", "request_id": "r-1", "method": "GET",
                    "path": "/v1/x", "status": "200", "duration_ms": "0.125",
                ])
    }

    @Test func theWriterThreadWritesWithoutBeingAsked() async throws {
        let path = NSTemporaryDirectory() + "tessera-log-\(UUID().uuidString)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { unlink(path) }  // the descriptor stays open: the sink's thread outlives the test
        let sink = LogSink(fd: fd, interval: .milliseconds(20))
        var logger = Logger(label: "t") { JSONLogHandler(label: $0, level: .info, sink: sink) }
        logger[metadataKey: "request_id"] = "r-1"
        logger.info("hello", metadata: ["path": "/healthz"])
        try await waitUntil(timeout: .seconds(5)) {
            (try? String(contentsOfFile: path, encoding: .utf8))?.contains(#""path":"/healthz","request_id":"r-1""#)
                == true
        }
    }
}
