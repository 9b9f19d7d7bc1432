import CArgon2

/// Argon2id password hashes as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`), through the system libargon2.
public struct PasswordHasher: Sendable {
    public var memoryKiB: UInt32
    public var iterations: UInt32
    public var parallelism: UInt32
    static let saltLength = 16
    static let hashLength = 32

    /// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    public init(memoryKiB: UInt32 = 19_456, iterations: UInt32 = 2, parallelism: UInt32 = 1) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    public enum HashError: Error, Equatable {
        case argon2(code: Int32)
    }

    public func hash(_ password: String) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let length = argon2_encodedlen(
            iterations, memoryKiB, parallelism, UInt32(Self.saltLength), UInt32(Self.hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let password = Array(password.utf8)
        let code = argon2id_hash_encoded(
            iterations, memoryKiB, parallelism, password, password.count, salt, salt.count,
            Self.hashLength, &encoded, length)
        guard code == ARGON2_OK.rawValue else { throw HashError.argon2(code: code) }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `password` matches the PHC string (made here or by any other Argon2id implementation).
    public func verify(_ password: String, against phc: String) -> Bool {
        guard phc.hasPrefix("$argon2id$") else { return false }
        let password = Array(password.utf8)
        return argon2id_verify(phc, password, password.count) == ARGON2_OK.rawValue
    }
}
