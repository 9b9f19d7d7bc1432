import AsyncHTTPClient

extension HTTPClient.Configuration {
    /// This configuration without AsyncHTTPClient's own spans: they record each call's whole URL (a presigned link's
    /// signature, credentials written into a task service's URL) once a tracer is installed. A call worth tracing gets
    /// a span of ours that records the host and path only (`OutboundCall`).
    public func untraced() -> Self {
        var configuration = self
        configuration.tracing.tracer = nil
        return configuration
    }
}
