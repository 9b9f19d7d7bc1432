/// A configuration value that must never be printed: its description is always `***`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The plaintext, for the one place that needs it (a connection, a key derivation).
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "***" }
    public var debugDescription: String { "Secret(***)" }
}
