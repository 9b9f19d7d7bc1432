extension String {
    /// The string without one trailing `/` (a base URL to append paths to).
    public var withoutTrailingSlash: String { hasSuffix("/") ? String(dropLast()) : self }

    /// The longest prefix of at most `limit` bytes of UTF-8 that ends on a whole character's scalar boundary.
    public func truncatedUTF8(to limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var bytes = 0
        var end = unicodeScalars.startIndex
        for index in unicodeScalars.indices {
            let size = UTF8.width(unicodeScalars[index])
            guard bytes + size <= limit else { break }
            bytes += size
            end = unicodeScalars.index(after: index)
        }
        return String(unicodeScalars[..<end])
    }
}
