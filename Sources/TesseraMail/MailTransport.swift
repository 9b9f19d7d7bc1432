import Foundation
import TesseraCore
import TesseraPostgres

/// Delivers one composed message.
public protocol MailTransport: Sendable {
    func deliver(_ mail: OutgoingMail, from sender: String, message: String) async throws
}

/// The dev default: each message an `.eml` file (mode 0600: it carries a token) under `<data dir>/mail/`,
/// where a developer reads their invitations.
public struct FileTransport: MailTransport {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func deliver(_ mail: OutgoingMail, from sender: String, message: String) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        let path = "\(directory)/\(stamp)-\(mail.kind)-\(mail.id.uuidString.lowercased()).eml"
        let partial = path + ".part"
        guard
            FileManager.default.createFile(
                atPath: partial, contents: Data(message.utf8), attributes: [.posixPermissions: 0o600])
        else { throw SMTPError(description: "cannot write \(partial)", isPermanent: false) }
        // Whole or not at all: a reader never sees half a message.
        guard rename(partial, path) == 0 else {
            throw SMTPError(description: "cannot rename \(partial): errno \(errno)", isPermanent: false)
        }
    }
}

/// Sends through an SMTP server.
public struct SMTPTransport: MailTransport {
    let client: SMTPClient

    public init(_ configuration: SMTPConfiguration) throws {
        client = try SMTPClient(configuration)
    }

    public func deliver(_ mail: OutgoingMail, from sender: String, message: String) async throws {
        try await client.send(from: MailMessage.address(in: sender), to: [mail.recipient], message: message)
    }
}

/// An RFC 5322 message: headers, a plain-text UTF-8 body (base64 when not ASCII), CRLF line ends.
public enum MailMessage {
    public static func compose(_ mail: OutgoingMail, from sender: String, date: Date = Date()) -> String {
        let ascii = mail.body.allSatisfy(\.isASCII)
        var body = mail.body.replacingOccurrences(of: "\r\n", with: "\n")
        if !ascii {
            body = Data(body.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        }
        let headers = [
            "From: \(sender)",
            "To: <\(mail.recipient)>",
            "Subject: \(encodedHeader(mail.subject))",
            "Date: \(rfc5322Date(date))",
            "Message-ID: <\(mail.id.uuidString.lowercased())@tessera>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: \(ascii ? "7bit" : "base64")",
            "X-Tessera-Kind: \(mail.kind)",
        ]
        return (headers + [""] + body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            .joined(separator: "\r\n") + "\r\n"
    }

    /// The bare address of `Name <address>` (or the text itself).
    public static func address(in sender: String) -> String {
        if let open = sender.lastIndex(of: "<"), let close = sender.lastIndex(of: ">"), open < close {
            return String(sender[sender.index(after: open)..<close])
        }
        return sender.trimmingCharacters(in: .whitespaces)
    }

    /// A header value as it is when ASCII, else RFC 2047 base64 words.
    static func encodedHeader(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard !clean.allSatisfy(\.isASCII) else { return clean }
        return "=?UTF-8?B?\(Data(clean.utf8).base64EncodedString())?="
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
