import Foundation
import Synchronization
import TesseraCore

/// Admission a bounded number at a time, in the process and per org, fair between orgs: at most `total` hold a
/// slot and `perOrg` of one org; an org may have `queuedPerOrg` more waiting (past that: 429), and a wait longer
/// than `wait` is a 503 saying `busy`. A freed slot goes to the waiting orgs in turn, so an org flooding waits
/// behind its own requests, not in front of another org's.
final class FairGate: Sendable {
    struct Limits: Sendable {
        var total: Int
        var perOrg: Int
        var queuedPerOrg: Int
        var wait: Duration

        init(total: Int, perOrg: Int, queuedPerOrg: Int, wait: Duration) {
            (self.total, self.perOrg, self.queuedPerOrg, self.wait) = (total, perOrg, queuedPerOrg, wait)
        }
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var running = 0
        var runningPerOrg: [UUID: Int] = [:]
        var waiting: [UUID: [Waiter]] = [:]
        /// Orgs with waiters, the next to be served first.
        var turn: [UUID] = []
        var nextID = 0
        var peak = 0

        mutating func take(_ org: UUID) {
            running += 1
            runningPerOrg[org, default: 0] += 1
            peak = max(peak, running)
        }
    }
    private enum Outcome { case go, full, wait }

    let limits: Limits
    /// The 503's detail when a wait runs out.
    let busy: String
    private let state = Mutex(State())

    init(_ limits: Limits, busy: String) {
        self.limits = limits
        self.busy = busy
    }

    /// The most ever holding a slot at once, and how many wait now (for tests).
    var peak: Int { state.withLock { $0.peak } }
    var waiting: Int { state.withLock { $0.waiting.values.reduce(0) { $0 + $1.count } } }

    /// Runs `work` once `org` has a slot, and frees the slot when it ends.
    func run<T>(org: UUID, _ work: () async throws -> T) async throws -> T {
        try await admit(org)
        defer { release(org) }
        return try await work()
    }

    private func admit(_ org: UUID) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task { [limits] in
            try await Task.sleep(for: limits.wait)
            self.giveUp(org, id)
        }
        defer { timer.cancel() }
        try await withCheckedThrowingContinuation { (admitted: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { state -> Outcome in
                if state.running < limits.total && state.runningPerOrg[org, default: 0] < limits.perOrg {
                    state.take(org)
                    return .go
                }
                if state.waiting[org, default: []].count >= limits.queuedPerOrg { return .full }
                state.waiting[org, default: []].append(Waiter(id: id, continuation: admitted))
                if !state.turn.contains(org) { state.turn.append(org) }
                return .wait
            }
            switch outcome {
            case .go: admitted.resume()
            case .full: admitted.resume(throwing: TesseraError.tooManyRequests(retryAfterSeconds: 1))
            case .wait: break
            }
        }
    }

    /// A waiter past `limits.wait` leaves the line with a 503 (unless it was admitted meanwhile).
    private func giveUp(_ org: UUID, _ id: Int) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiting[org]?.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiting[org]!.remove(at: index)
            if state.waiting[org]!.isEmpty {
                state.waiting[org] = nil
                state.turn.removeAll { $0 == org }
            }
            return waiter
        }
        waiter?.continuation.resume(throwing: TesseraError.unavailable(busy))
    }

    /// Frees `org`'s slot and hands it to the first org in turn that may take one.
    private func release(_ org: UUID) {
        let next = state.withLock { state -> Waiter? in
            state.running -= 1
            state.runningPerOrg[org, default: 1] -= 1
            if state.runningPerOrg[org] == 0 { state.runningPerOrg[org] = nil }
            // The org that just ran goes behind the others waiting.
            if let own = state.turn.firstIndex(of: org) { state.turn.append(state.turn.remove(at: own)) }
            guard
                let index = state.turn.firstIndex(where: { state.runningPerOrg[$0, default: 0] < limits.perOrg })
            else { return nil }
            let candidate = state.turn.remove(at: index)
            let waiter = state.waiting[candidate]!.removeFirst()
            if state.waiting[candidate]!.isEmpty {
                state.waiting[candidate] = nil
            } else {
                state.turn.append(candidate)
            }
            state.take(candidate)
            return waiter
        }
        next?.continuation.resume()
    }
}

extension FairGate.Limits {
    /// Heavy work, from `work.heavy_*`; a total of 0 leaves one core free for everything else.
    init(heavy work: Settings.Work) {
        self.init(
            total: work.heavyTotal > 0 ? work.heavyTotal : max(1, ProcessInfo.processInfo.activeProcessorCount - 1),
            perOrg: work.heavyPerOrg, queuedPerOrg: work.heavyQueuedPerOrg, wait: .seconds(work.heavyWaitSeconds))
    }

    /// Bulk bodies held in memory, from `work.bulk_bodies*`, waiting as heavy work does.
    init(bulkBodies work: Settings.Work) {
        self.init(
            total: work.bulkBodies, perOrg: work.bulkBodiesPerOrg, queuedPerOrg: work.heavyQueuedPerOrg,
            wait: .seconds(work.heavyWaitSeconds))
    }
}
