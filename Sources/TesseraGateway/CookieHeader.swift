/// Reads `Cookie` request headers: the one reader of cookies in the gateway (the OIDC sign-in's state cookie, the
/// console's session and sign-in cookies).
enum CookieHeader {
    /// The value of the first cookie named `name` in these `Cookie` header values, blanks around it removed.
    static func value(_ name: String, in headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }
}
