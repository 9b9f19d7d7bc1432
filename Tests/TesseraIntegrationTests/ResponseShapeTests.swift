import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OpenAPIRuntime
import Testing

@testable import TesseraGateway

/// How the generated layer's responses leave: dates as Foundation writes them, JSON bodies as one buffer, streams
/// of unknown length (exports) and very large bodies still streamed.
@Suite struct ResponseShapeTests {
    @Test func datesAreWrittenAsTheRuntimesTranscoderWritesThem() throws {
        let ours = InternetDateTranscoder()
        let foundation = ISO8601DateTranscoder.iso8601
        var generator = SystemRandomNumberGenerator()
        var dates: [Date] = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.5), Date(timeIntervalSince1970: 0.999_999),
            Date(timeIntervalSince1970: 1_796_000_000.123_456),  // 0001-01-01
            Date(timeIntervalSince1970: -62_135_596_800),
            Date(timeIntervalSince1970: 253_402_300_799.9),  // 9999-12-31T23:59:59
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: -12_219_292_800), Date(timeIntervalSince1970: -11_676_096_000),  // 1582, 1600
            Date(timeIntervalSince1970: 1.000_499), Date(timeIntervalSince1970: -1.000_5),
        ]
        for _ in 0..<2_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -15e9...9e9, using: &generator)))
        }
        for date in dates {
            let text = try ours.encode(date)
            let expected = try foundation.encode(date)
            #expect(text == expected, "\(date.timeIntervalSince1970): \(text) vs \(expected)")
        }
        // Read back as Foundation reads them: every spelling, valid or not (ours reads only the plain one).
        let spellings = [
            "2026-11-30T13:40:05Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-30T24:00:00Z", "2026-11-30T23:59:60Z",
            "2026-11-30t13:40:05z", "2026-11-30T13:40:05.5Z", "2026-11-30T13:40:05+01:00", "1600-01-01T00:00:00Z",
            "1599-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-1-30T13:40:05Z",
            "２０２６-11-30T13:40:05Z", "",
        ]
        for text in spellings {
            #expect((try? ours.decode(text)) == (try? foundation.decode(text)), "\(text)")
        }
        for date in dates {
            let text = try foundation.encode(date)
            #expect(try ours.decode(text) == (try foundation.decode(text)), "\(text)")
        }
        // Past four-digit years Foundation writes them, whatever it writes.
        let far = Date(timeIntervalSince1970: 400_000_000_000)
        #expect(try ours.encode(far) == (try foundation.encode(far)))
        #expect(InternetDate.string(seconds: 0, milliseconds: 7) == "1970-01-01T00:00:00.007Z")
    }

    /// Records what a response body writes.
    struct Recorder: ResponseBodyWriter {
        let writes: Box

        final class Box: @unchecked Sendable {
            var buffers: [ByteBuffer] = []
            var finished = false
        }

        mutating func write(_ buffer: ByteBuffer) async throws { writes.buffers.append(buffer) }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws { writes.finished = true }
    }

    static func written(_ response: Response) async throws -> [String] {
        let box = Recorder.Box()
        try await response.body.write(Recorder(writes: box))
        #expect(box.finished)
        return box.buffers.map { String(buffer: $0) }
    }

    static func chunked(_ parts: [String], length: HTTPBody.Length) -> HTTPBody {
        let (stream, continuation) = AsyncStream.makeStream(of: ArraySlice<UInt8>.self)
        for part in parts { continuation.yield(ArraySlice(part.utf8)) }
        continuation.finish()
        return HTTPBody(stream, length: length, iterationBehavior: .single)
    }

    @Test func bodiesOfKnownLengthLeaveAsOneBufferAndOthersStream() async throws {
        let head = HTTPResponse(status: .ok)
        let parts = [#"{"a":"#, "1", "}"]

        let known = try await OpenAPITransport.response(head, body: Self.chunked(parts, length: .known(7)))
        #expect(known.body.contentLength == 7)
        #expect(try await Self.written(known) == [#"{"a":1}"#])

        let unknown = try await OpenAPITransport.response(head, body: Self.chunked(parts, length: .unknown))
        #expect(unknown.body.contentLength == nil)
        #expect(try await Self.written(unknown) == parts)

        let big = String(repeating: "x", count: OpenAPITransport.collectLimit + 1)
        let large = try await OpenAPITransport.response(
            head, body: Self.chunked([big, "y"], length: .known(Int64(big.utf8.count + 1))))
        #expect(large.body.contentLength == big.utf8.count + 1)
        #expect(try await Self.written(large).count == 2)

        let empty = try await OpenAPITransport.response(HTTPResponse(status: .noContent), body: nil)
        #expect(empty.status == .noContent)
        #expect(try await Self.written(empty) == [])
    }
}
