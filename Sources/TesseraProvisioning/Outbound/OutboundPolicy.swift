import Foundation
import NIOPosix
import TesseraCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the gateway may send a request on a tenant's behalf (an identity provider, a task service): every
/// address the host resolves to must be public (`OutboundAddress`), unless the operator allows private ones
/// (dev and tests). Checked when the URL is registered and again before each call, since a name may come to
/// resolve elsewhere; the callers follow no redirects.
public struct OutboundPolicy: Sendable {
    public let allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    public enum Refusal: Error, Equatable, Sendable {
        case notPublic
        case unresolvable

        public var reason: String {
            switch self {
            case .notPublic: "the address is not public (loopback, private, link-local or reserved)"
            case .unresolvable: "the host does not resolve"
            }
        }
    }

    /// Refuses a host that resolves to no address, or (unless private ones are allowed) to one not public.
    public func check(host: String) async throws(Refusal) {
        guard !allowPrivate else { return }
        let addresses: [[UInt8]]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }
        } catch {
            throw .unresolvable
        }
        guard !addresses.isEmpty else { throw .unresolvable }
        guard addresses.allSatisfy(OutboundAddress.isPublic) else { throw .notPublic }
    }

    /// Every address `host` resolves to (a numeric host is its own address); empty when it resolves to none.
    /// Blocking: called on NIO's thread pool.
    static func resolve(_ host: String) -> [[UInt8]] {
        if let numeric = OutboundAddress.parse(host) { return [numeric] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var address = sin.pointee.sin_addr
                    addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                }
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var address = sin6.pointee.sin6_addr
                    addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
