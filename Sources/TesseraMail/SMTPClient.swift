import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TesseraCore

/// How a message is sent over SMTP: the server, whether STARTTLS is required, tried when offered, or never
/// used, and an optional login (sent only over TLS).
public struct SMTPConfiguration: Sendable {
    public enum TLSMode: String, Sendable, CaseIterable {
        /// STARTTLS or nothing is sent: a server that does not offer it is an error.
        case required
        /// STARTTLS when the server offers it.
        case opportunistic
        /// Plain text (a loopback relay, say); a login is refused.
        case off
    }

    public var host: String
    public var port: Int
    public var tls: TLSMode
    public var username: String?
    public var password: Secret?
    /// PEM file of the certificate authorities to trust instead of the system's (a private relay).
    public var caFile: String?
    /// The name this client gives in EHLO.
    public var heloName: String
    /// Bounds a whole delivery, from connecting to QUIT.
    public var timeout: Duration

    public init(
        host: String, port: Int, tls: TLSMode, username: String? = nil, password: Secret? = nil,
        caFile: String? = nil, heloName: String = "tessera.localhost", timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.username = username
        self.password = password
        self.caFile = caFile
        self.heloName = heloName
        self.timeout = timeout
    }
}

/// Why a delivery failed; `isPermanent` for a 5xx answer (the server will never take it), anything else is
/// worth another try later.
public struct SMTPError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let isPermanent: Bool

    static func rejected(_ stage: String, _ response: SMTPResponse) -> SMTPError {
        SMTPError(
            description: "\(stage): the server answered \(response.code) \(response.text)",
            isPermanent: (500...599).contains(response.code))
    }

    static let closed = SMTPError(description: "the server closed the connection", isPermanent: false)
}

/// One reply: its code and text (the lines of a multi-line reply joined by spaces).
public struct SMTPResponse: Sendable, Equatable {
    public let code: Int
    public let lines: [String]
    public var text: String { lines.joined(separator: " ") }
}

/// A minimal SMTP client on SwiftNIO (RFC 5321, STARTTLS from RFC 3207, AUTH PLAIN from RFC 4954): one
/// connection per message, the whole exchange bounded by `timeout`.
public struct SMTPClient: Sendable {
    let configuration: SMTPConfiguration
    let tlsContext: NIOSSLContext?

    public init(_ configuration: SMTPConfiguration) throws {
        self.configuration = configuration
        if configuration.tls == .off {
            tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let caFile = configuration.caFile { tls.trustRoots = .file(caFile) }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
        if configuration.username != nil, configuration.tls == .off {
            throw SMTPError(
                description: "mail.smtp.username is set but mail.smtp.tls is off: a password is never sent in clear",
                isPermanent: true)
        }
    }

    /// Sends `message` (RFC 5322 text with CRLF line ends) from `sender` to `recipients`.
    public func send(from sender: String, to recipients: [String], message: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPResponseDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SMTPReplies())
                }
            }
            .connect(host: configuration.host, port: configuration.port).get()
        do {
            let replies = try await channel.eventLoop.submit {
                NIOLoopBound(
                    try channel.pipeline.syncOperations.handler(type: SMTPReplies.self), eventLoop: channel.eventLoop)
            }.get()
            let session = SMTPSession(
                channel: channel, replies: replies, configuration: configuration, tlsContext: tlsContext)
            // The whole exchange is bounded: closing the channel fails whatever waits for a reply.
            let timer = channel.eventLoop.scheduleTask(in: TimeAmount(configuration.timeout)) {
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            try await session.run(from: sender, to: recipients, message: message)
        } catch {
            try? await channel.close()
            throw error
        }
        try? await channel.close()
    }
}

/// One exchange with the server, in order.
struct SMTPSession {
    let channel: Channel
    let replies: NIOLoopBound<SMTPReplies>
    let configuration: SMTPConfiguration
    let tlsContext: NIOSSLContext?

    func run(from sender: String, to recipients: [String], message: String) async throws {
        try expect(220, "greeting", try await reply())
        var features = try await ehlo()
        var secure = false
        if features.contains("STARTTLS"), configuration.tls != .off, let tlsContext {
            try expect(220, "STARTTLS", try await command("STARTTLS"))
            let host = configuration.host
            try await channel.eventLoop.flatSubmit { [channel] in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(
                        context: tlsContext, serverHostname: host.first?.isNumber == true ? nil : host)
                    try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                }
            }.get()
            secure = true
            features = try await ehlo()
        } else if configuration.tls == .required {
            throw SMTPError(
                description:
                    "the server does not offer STARTTLS (mail.smtp.tls is required; it offers \(features.sorted().joined(separator: " ")))",
                isPermanent: false)
        }
        if let username = configuration.username {
            guard secure else {
                throw SMTPError(description: "refusing to send the SMTP password without TLS", isPermanent: false)
            }
            let credentials = Data("\u{0}\(username)\u{0}\(configuration.password?.value ?? "")".utf8)
            // The credentials go only into the command; an error names the stage and the server's answer.
            try expect(235, "AUTH", try await command("AUTH PLAIN \(credentials.base64EncodedString())"))
        }
        try expect(250, "MAIL FROM", try await command("MAIL FROM:<\(sender)>"))
        for recipient in recipients {
            try expect(250...251, "RCPT TO", try await command("RCPT TO:<\(recipient)>"))
        }
        try expect(354, "DATA", try await command("DATA"))
        try await write(Self.dotStuffed(message) + ".\r\n")
        try expect(250, "end of data", try await reply())
        _ = try? await command("QUIT")
    }

    /// The extensions the server names in its EHLO reply (upper-cased keywords).
    func ehlo() async throws -> Set<String> {
        let response = try await command("EHLO \(configuration.heloName)")
        try expect(250, "EHLO", response)
        return Set(response.lines.dropFirst().compactMap { $0.split(separator: " ").first.map { $0.uppercased() } })
    }

    func command(_ line: String) async throws -> SMTPResponse {
        try await write(line + "\r\n")
        return try await reply()
    }

    func write(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text)).get()
    }

    func reply() async throws -> SMTPResponse {
        try await channel.eventLoop.flatSubmit { [replies] in replies.value.next() }.get()
    }

    func expect(_ code: Int, _ stage: String, _ response: SMTPResponse) throws {
        try expect(code...code, stage, response)
    }

    func expect(_ codes: ClosedRange<Int>, _ stage: String, _ response: SMTPResponse) throws {
        guard codes.contains(response.code) else { throw SMTPError.rejected(stage, response) }
    }

    /// The message with CRLF line ends, each line that starts with a dot given another (RFC 5321 4.5.2), and
    /// a final CRLF.
    static func dotStuffed(_ message: String) -> String {
        var lines = message.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false
        ).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + "\r\n"
    }
}

/// Splits the byte stream into replies: lines up to CRLF, a reply ending at the line whose code is followed
/// by a space (`250-…` continues, `250 …` ends).
struct SMTPResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPResponse
    var lines: [String] = []

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let end = buffer.withUnsafeReadableBytes({ $0.firstIndex(of: UInt8(ascii: "\n")) }) else {
            if buffer.readableBytes > 64 * 1024 {
                throw SMTPError(description: "reply line too long", isPermanent: false)
            }
            return .needMoreData
        }
        let length = end + 1
        var line = buffer.readString(length: length) ?? ""
        // By scalars: "\r\n" is one Character, so hasSuffix("\n") would not see it.
        while let last = line.unicodeScalars.last, last == "\r" || last == "\n" { line.unicodeScalars.removeLast() }
        let code = Int(line.prefix(3))
        guard let code, line.count >= 3 else {
            throw SMTPError(description: "not an SMTP reply: \(line.prefix(80))", isPermanent: false)
        }
        let separator = line.dropFirst(3).first
        lines.append(String(line.dropFirst(4)))
        if separator != "-" {
            context.fireChannelRead(wrapInboundOut(SMTPResponse(code: code, lines: lines)))
            lines = []
        }
        return .continue
    }
}

/// Hands replies to whoever waits for the next one, in order; a closed connection fails every wait.
final class SMTPReplies: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = SMTPResponse
    private var ready: [SMTPResponse] = []
    private var waiting: [EventLoopPromise<SMTPResponse>] = []
    private var failure: (any Error)?
    private var eventLoop: EventLoop?

    func handlerAdded(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let response = unwrapInboundIn(data)
        if waiting.isEmpty {
            ready.append(response)
        } else {
            waiting.removeFirst().succeed(response)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    /// The next reply (called on the channel's event loop).
    func next() -> EventLoopFuture<SMTPResponse> {
        guard let eventLoop else { preconditionFailure("not in a pipeline") }
        if !ready.isEmpty { return eventLoop.makeSucceededFuture(ready.removeFirst()) }
        if let failure { return eventLoop.makeFailedFuture(failure) }
        let promise = eventLoop.makePromise(of: SMTPResponse.self)
        waiting.append(promise)
        return promise.futureResult
    }

    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let waiting = self.waiting
        self.waiting = []
        for promise in waiting { promise.fail(error) }
    }
}
