import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Who the client is when proxies stand in front: the peer's address, unless the peer is a trusted proxy
/// (`http.trusted_proxies`), then the nearest address in `X-Forwarded-For` that is not one. Nobody else's
/// `X-Forwarded-For` is believed, so a client cannot pick the address its failures are counted against.
public struct TrustedProxies: Sendable, Equatable {
    /// (network bytes, prefix length in bits)
    let networks: [([UInt8], Int)]

    public static let none = TrustedProxies(networks: [])

    /// From `127.0.0.1, 10.0.0.0/8, ::1` (addresses or CIDR blocks, comma- or space-separated); nil when one
    /// does not parse.
    public init?(_ list: String) {
        var networks: [([UInt8], Int)] = []
        for item in list.split(whereSeparator: { $0 == "," || $0 == " " }) where !item.isEmpty {
            let parts = item.split(separator: "/", maxSplits: 1)
            guard let bytes = Self.bytes(String(parts[0])) else { return nil }
            let bits = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let bits, (0...(bytes.count * 8)).contains(bits) else { return nil }
            networks.append((bytes, bits))
        }
        self.networks = networks
    }

    init(networks: [([UInt8], Int)]) {
        self.networks = networks
    }

    public static func == (a: TrustedProxies, b: TrustedProxies) -> Bool {
        a.networks.map { "\($0.0)/\($0.1)" } == b.networks.map { "\($0.0)/\($0.1)" }
    }

    public var isEmpty: Bool { networks.isEmpty }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return networks.contains { network, bits in
            guard network.count == bytes.count else { return false }
            var remaining = bits
            for (a, b) in zip(network, bytes) where remaining > 0 {
                let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
                if a & mask != b & mask { return false }
                remaining -= 8
            }
            return true
        }
    }

    /// The client's address: `peer`, or when `peer` is trusted, the rightmost `X-Forwarded-For` entry that is
    /// not a trusted proxy (a malformed entry ends the walk there: the peer's word is all there is).
    public func client(peer: String, forwardedFor: String?) -> String {
        guard contains(peer), let forwardedFor else { return peer }
        var client = peer
        for entry in forwardedFor.split(separator: ",").reversed() {
            let address = entry.trimmingCharacters(in: .whitespaces)
            guard Self.bytes(address) != nil else { break }
            client = address
            if !contains(address) { break }
        }
        return client
    }

    /// An IPv4 or IPv6 address's bytes.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
