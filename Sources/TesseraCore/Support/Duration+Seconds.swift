extension Duration {
    /// The duration in seconds, fractions included (for SQL intervals, JSON numbers and metrics).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
