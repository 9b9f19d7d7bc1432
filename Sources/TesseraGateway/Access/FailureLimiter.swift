import Synchronization

/// Counts failed authentications per client address in a sliding window; past the threshold the
/// address is answered 429 until its oldest failure leaves the window.
final class FailureLimiter: Sendable {
    let threshold: Int
    let window: Duration
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])

    init(threshold: Int, window: Duration) {
        self.threshold = threshold
        self.window = window
    }

    /// Seconds to wait when `address` is over the threshold, else nil.
    func retryAfter(_ address: String, now: ContinuousClock.Instant = .now) -> Int? {
        failures.withLock { all in
            guard var times = all[address] else { return nil }
            times.removeAll { now - $0 > window }
            all[address] = times.isEmpty ? nil : times
            guard times.count >= threshold, let oldest = times.first else { return nil }
            let wait = window - (now - oldest)
            return max(1, Int(wait.components.seconds) + 1)
        }
    }

    func recordFailure(_ address: String, now: ContinuousClock.Instant = .now) {
        failures.withLock { all in
            var times = all[address, default: []]
            times.removeAll { now - $0 > window }
            times.append(now)
            if times.count > threshold { times.removeFirst(times.count - threshold) }
            all[address] = times
            // Bound the table: forget the quietest addresses if an attack spreads over very many.
            if all.count > 100_000 { all = all.filter { $0.value.count > 1 } }
        }
    }
}
