import Foundation
import Synchronization
import TesseraCore

#if canImport(Glibc)
    import Glibc
#endif

/// Where log lines go: a bounded buffer in memory, written to a file descriptor (standard error) by a thread of
/// its own every `interval`, so a request never waits for a write. Past `capacity` buffered bytes a line is
/// dropped and counted, never waited for; the next write reports how many were dropped. Whatever is buffered is
/// written when the process exits normally (`exit`, the end of `main`).
public final class LogSink: Sendable {
    /// The process's sink, on standard error.
    public static let standardError = LogSink(fd: 2)

    private struct State {
        var pending: [UInt8] = []
        /// The buffer written last, emptied with its capacity kept: the next to fill. (Filled from empty each
        /// time, the buffer grew, and was copied as it grew, under the lock that requests append under.)
        var spare: [UInt8] = []
        var dropped = 0
        var writerStarted = false
    }

    let fd: Int32
    let capacity: Int
    let interval: Duration
    private let state = Mutex(State())
    /// Held while writing, so that two writes (the thread's, an explicit flush) never interleave their lines.
    private let writing = Mutex(())

    init(fd: Int32, capacity: Int = 4 << 20, interval: Duration = .milliseconds(20)) {
        (self.fd, self.capacity, self.interval) = (fd, capacity, interval)
    }

    /// Buffers one line (its bytes, newline included); false when it was dropped for want of room.
    @discardableResult
    func append(_ line: [UInt8]) -> Bool {
        let (accepted, start) = state.withLock { state -> (Bool, Bool) in
            let start = !state.writerStarted
            state.writerStarted = true
            guard state.pending.count + line.count <= capacity else {
                state.dropped += 1
                return (false, start)
            }
            state.pending.append(contentsOf: line)
            return (true, start)
        }
        if start { startWriter() }
        return accepted
    }

    /// Writes everything buffered now, and a line counting the dropped ones if any were.
    public func flush() {
        writing.withLock { _ in
            var (bytes, dropped) = state.withLock { state -> ([UInt8], Int) in
                var bytes = state.spare
                state.spare = []
                swap(&bytes, &state.pending)
                defer { state.dropped = 0 }
                return (bytes, state.dropped)
            }
            write(bytes)
            bytes.removeAll(keepingCapacity: true)
            state.withLock { $0.spare = bytes }
            if dropped > 0 {
                write(
                    LogLine.encode(
                        level: "warning", label: "tessera.log", message: "log lines dropped: the buffer was full",
                        fields: [("dropped", .string(String(dropped)))]))
            }
        }
    }

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // nowhere to report a failed log write
                }
                offset += n
            }
        }
    }

    private func startWriter() {
        if self === LogSink.standardError { atexit { LogSink.standardError.flush() } }
        let seconds = interval.inSeconds
        Thread.detachNewThread { [self] in
            while true {
                Thread.sleep(forTimeInterval: seconds)
                flush()
            }
        }
    }
}

/// One log line as JSON, written by hand: keys sorted, slashes not escaped, newline-terminated.
enum LogLine {
    enum Value {
        case string(String)
        case array([Value])
        case object([(String, Value)])
    }

    /// `fields` is taken over (appended to and sorted where it is: a caller that hands over the only reference,
    /// with room for five more pairs, makes no copy) — a line costs its output buffer and little else.
    static func encode(
        level: String, label: String, message: String, error: String? = nil, fields: consuming [(String, Value)] = [],
        at time: timespec = now()
    ) -> [UInt8] {
        fields.removeAll { field in  // the line's own keys win
            switch field.0 {
            case "ts", "level", "label", "msg": true
            case "error": error != nil
            default: false
            }
        }
        fields.append(("ts", .string(timestamp(time))))
        fields.append(("level", .string(level)))
        fields.append(("label", .string(label)))
        fields.append(("msg", .string(message)))
        if let error { fields.append(("error", .string(error))) }
        fields.sort(by: keyOrder)
        var out: [UInt8] = []
        out.reserveCapacity(512)  // an access line is ~300 bytes: one allocation, never grown
        write(sorted: fields, to: &out)
        out.append(0x0A)
        return out
    }

    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    /// `2026-11-30T13:40:05.123Z`.
    static func timestamp(_ time: timespec) -> String {
        InternetDate.string(seconds: Int(time.tv_sec), milliseconds: Int(time.tv_nsec) / 1_000_000) ?? "\(time.tv_sec)"
    }

    static func write(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            write(text, to: &out)
        case .array(let values):
            out.append(0x5B)
            for (i, value) in values.enumerated() {
                if i > 0 { out.append(0x2C) }
                write(value, to: &out)
            }
            out.append(0x5D)
        case .object(let pairs):
            write(sorted: pairs.sorted(by: keyOrder), to: &out)
        }
    }

    /// Keys in the order of their UTF-8 bytes.
    static func keyOrder(_ a: (String, Value), _ b: (String, Value)) -> Bool {
        a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
    }

    /// An object whose pairs are in key order already.
    static func write(sorted pairs: [(String, Value)], to out: inout [UInt8]) {
        out.append(0x7B)
        for (i, (key, value)) in pairs.enumerated() {
            if i > 0 { out.append(0x2C) }
            write(key, to: &out)
            out.append(0x3A)
            write(value, to: &out)
        }
        out.append(0x7D)
    }

    static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`; the bytes between
    /// them copied as runs.
    static func write(_ text: String, to out: inout [UInt8]) {
        out.append(0x22)
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                switch byte {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                default: out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                }
                start = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(0x22)
    }
}
