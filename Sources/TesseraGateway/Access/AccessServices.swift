import Foundation
import NIOPosix
import Synchronization
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

    /// Argon2 runs at most this many at once (one core stays free for everything else), with at most
    /// `argon2Queue` waiting: a login flood gets 503s, not every core.
    let argon2 = WorkGate(
        limit: max(1, ProcessInfo.processInfo.activeProcessorCount - 1), queue: 64,
        busy: "too many password checks at once; retry shortly")

    /// Argon2 takes tens of milliseconds of CPU: run it off the request threads, a bounded number at once.
    func hash(_ password: String) async throws -> String {
        try await argon2.run {
            try await NIOThreadPool.singleton.runIfActive { [hasher] in try hasher.hash(password) }
        }
    }

    func verify(_ password: String, against phc: String) async throws -> Bool {
        try await argon2.run {
            try await NIOThreadPool.singleton.runIfActive { [hasher] in hasher.verify(password, against: phc) }
        }
    }

    static func checkStrength(_ password: String) throws {
        guard password.count >= minimumPasswordLength else {
            throw TesseraError.unprocessable("a password needs at least \(minimumPasswordLength) characters")
        }
    }
}

/// At most `limit` pieces of work at once and `queue` waiting, first come first served; past that a caller is
/// refused at once with a 503 (Retry-After 1) instead of queueing without bound.
final class WorkGate: Sendable {
    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Void, any Error>] = []
        var peak = 0
    }
    let limit: Int
    let queue: Int
    let busy: String
    private let state = Mutex(State())
    private enum Outcome { case go, full, wait }

    init(limit: Int, queue: Int, busy: String) {
        self.limit = limit
        self.queue = queue
        self.busy = busy
    }

    /// The most ever running at once (for tests).
    var peak: Int { state.withLock { $0.peak } }

    func run<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (admitted: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { state -> Outcome in
                if state.running < limit {
                    state.running += 1
                    state.peak = max(state.peak, state.running)
                    return .go
                }
                if state.waiting.count >= queue { return .full }
                state.waiting.append(admitted)
                return .wait
            }
            switch outcome {
            case .go: admitted.resume()
            case .full: admitted.resume(throwing: TesseraError.unavailable(busy))
            case .wait: break
            }
        }
        defer { release() }
        return try await work()
    }

    /// Hands the slot to the next waiter, or frees it.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
