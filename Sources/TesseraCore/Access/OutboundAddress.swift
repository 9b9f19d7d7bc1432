import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the gateway may send a request that a tenant configured (an identity provider's issuer, its token and
/// key endpoints): public unicast addresses only, unless the operator allows private ones (dev and tests).
/// Refused: loopback, RFC 1918 and CGNAT ranges, link-local (169.254/16, the cloud metadata address among them),
/// multicast, broadcast, unspecified, documentation and reserved ranges, IPv6 unique-local, link-local,
/// multicast, and IPv4 written inside IPv6. Resolving a name is the caller's (this module does no I/O).
public enum OutboundAddress {
    /// True for an IPv4 (4 bytes) or IPv6 (16 bytes) address the public may reach.
    public static func isPublic(_ address: [UInt8]) -> Bool {
        switch address.count {
        case 4: return isPublicV4(address)
        case 16: return isPublicV6(address)
        default: return false
        }
    }

    static func isPublicV4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1]) {
        case (0, _), (10, _), (127, _), (169, 254), (192, 168): return false
        case (100, 64...127): return false  // CGNAT
        case (172, 16...31): return false
        case (192, 0) where a[2] == 0 || a[2] == 2: return false  // IETF protocol assignments, TEST-NET-1
        case (198, 18...19): return false  // benchmarking
        case (198, 51) where a[2] == 100, (203, 0) where a[2] == 113: return false  // TEST-NET-2, -3
        case (224...255, _): return false  // multicast, reserved, broadcast
        default: return true
        }
    }

    static func isPublicV6(_ a: [UInt8]) -> Bool {
        if a[0..<10].allSatisfy({ $0 == 0 }) {
            // ::, ::1, IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 they carry,
            // so a mapped private address is no way around the rule.
            if a[10] == 0xff && a[11] == 0xff { return isPublicV4(Array(a[12..<16])) }
            return false
        }
        if a[0] == 0xff { return false }  // multicast
        if a[0] & 0xfe == 0xfc { return false }  // unique local fc00::/7
        if a[0] == 0xfe && a[1] & 0xc0 == 0x80 { return false }  // link-local fe80::/10
        if a[0] == 0xfe && a[1] & 0xc0 == 0xc0 { return false }  // site-local fec0::/10 (deprecated)
        if a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8 { return false }  // documentation
        if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b { return false }  // NAT64 of IPv4
        if a[0] == 0x20 && a[1] == 0x02 { return false }  // 6to4 carries an IPv4 address
        return true
    }

    /// Parses a numeric IPv4 or IPv6 address (brackets allowed around IPv6).
    public static func parse(_ text: String) -> [UInt8]? {
        let host = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
