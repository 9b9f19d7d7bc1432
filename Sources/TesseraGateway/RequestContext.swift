import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the client's address (for the failure limiter
/// and audit records).
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address, or "unknown" (in-process tests have none).
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
