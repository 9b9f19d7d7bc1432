import Foundation
import NIOPosix
import TesseraCore

/// What the auth routes need besides the database.
struct AccessServices: Sendable {
    let authenticator: Authenticator
    let hasher: PasswordHasher
    let sessionLifetime: Duration
    /// Verified when an email is unknown, so a wrong email costs as long as a wrong password.
    let decoyHash: String

    static let minimumPasswordLength = 12

    init(authenticator: Authenticator, hasher: PasswordHasher, sessionLifetime: Duration) throws {
        self.authenticator = authenticator
        self.hasher = hasher
        self.sessionLifetime = sessionLifetime
        self.decoyHash = try hasher.hash(UUID().uuidString)
    }

    /// Argon2 takes tens of milliseconds of CPU: run it off the request threads.
    func hash(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { [hasher] in try hasher.hash(password) }
    }

    func verify(_ password: String, against phc: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { [hasher] in hasher.verify(password, against: phc) }
    }

    static func checkStrength(_ password: String) throws {
        guard password.count >= minimumPasswordLength else {
            throw TesseraError.unprocessable("a password needs at least \(minimumPasswordLength) characters")
        }
    }
}
