import Foundation
import OpenAPIRuntime

/// RFC 3339 date-times in UTC (`2026-11-30T13:40:05Z`, or with milliseconds `…05.123Z`), written by hand from
/// `gmtime_r`: Foundation's ISO 8601 formatting cost 8 µs a date in a tenant read (bench/read), this a fraction.
enum InternetDate {
    /// Years written here; others go to Foundation (which writes dates before October 1582 in the Julian
    /// calendar, and years past 9999 as it does).
    static let years = 1600...9999

    /// The date-time of `seconds` since 1970 (and `milliseconds` past them when given); nil outside `years`.
    static func string(seconds: Int, milliseconds: Int? = nil) -> String? {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil, years.contains(Int(parts.tm_year) + 1900) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(48 + (value / divisor) % 10))
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        if let milliseconds {
            out.append(UInt8(ascii: "."))
            digits(milliseconds, 3)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// The generated layer's dates: written by `InternetDate` as the runtime's ISO 8601 transcoder writes them (the
/// time rounded to the millisecond, then its whole seconds), read by the runtime's transcoder.
struct InternetDateTranscoder: DateTranscoder {
    let foundation = ISO8601DateTranscoder.iso8601

    func encode(_ date: Date) throws -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        guard abs(milliseconds) < 1e15 else { return try foundation.encode(date) }
        let (seconds, remainder) = Int(milliseconds).quotientAndRemainder(dividingBy: 1000)
        guard let text = InternetDate.string(seconds: remainder < 0 ? seconds - 1 : seconds) else {
            return try foundation.encode(date)
        }
        return text
    }

    func decode(_ text: String) throws -> Date { try foundation.decode(text) }
}
