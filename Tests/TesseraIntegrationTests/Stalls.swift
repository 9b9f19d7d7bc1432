import Synchronization

/// How late this test process's tasks run: a task that sleeps 50 ms at a time notes how much later than that it
/// woke. A late wake-up means the cooperative threads were all held — a blocking wait in another test (a gateway's
/// `stop` polls for its exit on one), or both cores busy elsewhere — so a time measured here meanwhile includes it.
final class Stalls: Sendable {
    private let latest = Mutex(Duration.zero)

    /// Watches until cancelled.
    func watch() async {
        while !Task.isCancelled {
            let asleep = ContinuousClock.now
            try? await Task.sleep(for: .milliseconds(50))
            let late = ContinuousClock.now - asleep - .milliseconds(50)
            latest.withLock { $0 = max($0, late) }
        }
    }

    /// The latest wake-up so far.
    var worst: Duration { latest.withLock { $0 } }

    /// Runs `body` while watching: its result and the latest wake-up meanwhile.
    static func watching<T: Sendable>(_ body: () async throws -> T) async rethrows -> (T, stall: Duration) {
        let stalls = Stalls()
        let watcher = Task { await stalls.watch() }
        defer { watcher.cancel() }
        let result = try await body()
        return (result, stalls.worst)
    }
}
