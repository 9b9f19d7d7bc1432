import Foundation

/// The one rule for email addresses, wherever one is given (org owners, members, logins).
public enum EmailAddress {
    /// Trimmed and lower-cased: the form stored and compared.
    public static func normalise(_ raw: String) -> String {
        raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// The normalised address, or 422: at most 254 characters, one `@` with text on both sides, and a dot
    /// inside the domain.
    public static func validated(_ raw: String) throws -> String {
        let email = normalise(raw)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, !email.contains(where: \.isWhitespace),
            !email.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
            parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".")
        else {
            throw TesseraError.unprocessable("'\(raw)' is not an email address")
        }
        return email
    }
}
