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
        // Written on the stack: the string is the one allocation (every log line has a timestamp).
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { out in
            var count = 0
            func put(_ byte: UInt8) {
                out[count] = byte
                count += 1
            }
            func digits(_ value: Int, _ width: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                while divisor > 0 {
                    put(UInt8(48 + (value / divisor) % 10))
                    divisor /= 10
                }
            }
            digits(Int(parts.tm_year) + 1900, 4)
            put(UInt8(ascii: "-"))
            digits(Int(parts.tm_mon) + 1, 2)
            put(UInt8(ascii: "-"))
            digits(Int(parts.tm_mday), 2)
            put(UInt8(ascii: "T"))
            digits(Int(parts.tm_hour), 2)
            put(UInt8(ascii: ":"))
            digits(Int(parts.tm_min), 2)
            put(UInt8(ascii: ":"))
            digits(Int(parts.tm_sec), 2)
            if let milliseconds {
                put(UInt8(ascii: "."))
                digits(milliseconds, 3)
            }
            put(UInt8(ascii: "Z"))
            return String(decoding: UnsafeBufferPointer(rebasing: out[..<count]), as: UTF8.self)
        }
    }
}

extension InternetDate {
    /// The date of exactly `YYYY-MM-DDTHH:MM:SSZ` with a year in `years` and every field in its range; nil for
    /// anything else (offsets, fractions, other spellings: Foundation reads those). Foundation took 100 µs to read
    /// one, twice in an auditor's filtered query.
    static func date(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
                bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
                bytes[19] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ start: Int, _ width: Int) -> Int? {
                var value = 0
                for index in start..<start + width {
                    let digit = Int(bytes[index]) - 48
                    guard (0...9).contains(digit) else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), years.contains(year), let month = number(5, 2), (1...12).contains(month),
                let day = number(8, 2), let hour = number(11, 2), hour < 24, let minute = number(14, 2), minute < 60,
                let second = number(17, 2), second < 60
            else { return nil }
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
            guard (1...monthDays).contains(day) else { return nil }
            // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
            let y = month <= 2 ? year - 1 : year
            let era = y / 400
            let yearOfEra = y - era * 400
            let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
            let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
            let days = era * 146_097 + dayOfEra - 719_468
            return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3_600 + minute * 60 + second))
        }
    }
}

/// The generated layer's dates: written by `InternetDate` as the runtime's ISO 8601 transcoder writes them (the
/// time rounded to the millisecond, then its whole seconds), read by `InternetDate.date` when they are spelled as
/// written and by the runtime's transcoder otherwise.
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

    func decode(_ text: String) throws -> Date { try InternetDate.date(text) ?? foundation.decode(text) }
}
