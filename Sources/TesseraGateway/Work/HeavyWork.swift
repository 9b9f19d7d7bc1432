import Foundation
import NIOPosix
import TesseraCore

#if canImport(Glibc)
    import Glibc
#endif

/// CPU-heavy tenant work — run and CAFA evaluations, evaluation sets, ontology parsing, bulk imports — admitted a
/// bounded number at a time, so one org's flood cannot take the cores every other request needs.
///
/// At most `total` operations run in the process and `perOrg` per org (a `FairGate`: an org flooding waits behind
/// its own requests); their computing parts run on threads of their own at a lower priority (`compute`), never
/// on the cooperative threads that answer everything else.
final class HeavyWork: Sendable {
    typealias Limits = FairGate.Limits
    let gate: FairGate

    init(_ limits: Limits) {
        gate = FairGate(limits, busy: "the server is busy with heavy work; retry shortly")
    }

    /// The most ever running at once, and how many wait now (for tests).
    var peak: Int { gate.peak }
    var waiting: Int { gate.waiting }

    /// Runs `work` once `org` has a slot; `work` gets `compute`, which runs its CPU-bound parts on the thread pool.
    func run<T: Sendable>(org: UUID, _ work: (Compute) async throws -> T) async throws -> T {
        try await gate.run(org: org) { try await work(Compute()) }
    }

    /// Runs CPU-bound work on the heavy-work threads, off the cooperative threads.
    struct Compute: Sendable {
        func callAsFunction<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
            try await HeavyWork.threads.runIfActive {
                HeavyWork.yieldToRequests()
                return try work()
            }
        }
    }

    /// The process's heavy-work threads (admission bounds how many are busy), apart from NIO's shared pool so
    /// that their lower priority never reaches password hashing or file work.
    static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, ProcessInfo.processInfo.activeProcessorCount))
        pool.start()
        return pool
    }()

    /// Runs `body` for each of `0..<count` on the calling heavy-work thread and on those of the pool that are free
    /// (all at nice 10): one operation's independent parts — an evaluation's namespaces — take every core nothing
    /// else wants. The calling thread takes parts until none is left and then waits only for the parts another
    /// thread has begun, never for a thread to become free, so a busy pool only means it does them all itself.
    static func concurrentPerform(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let parts = SharedParts(count: count, body: body)
        for _ in 1..<max(1, min(count, ProcessInfo.processInfo.activeProcessorCount)) {
            threads.submit { state in
                guard case .active = state else { return }
                yieldToRequests()
                parts.work()
            }
        }
        parts.work()
        parts.waitForBegun()
    }

    /// The parts of one `concurrentPerform`, handed out one at a time to whichever thread asks.
    final class SharedParts: @unchecked Sendable {
        let count: Int
        let body: @Sendable (Int) -> Void
        let condition = NSCondition()
        /// The next part not yet taken, and how many taken parts are running (both under `condition`).
        var next = 0
        var running = 0

        init(count: Int, body: @escaping @Sendable (Int) -> Void) {
            self.count = count
            self.body = body
        }

        /// Takes and runs parts until none is left.
        func work() {
            while true {
                condition.lock()
                guard next < count else {
                    condition.unlock()
                    return
                }
                let part = next
                next += 1
                running += 1
                condition.unlock()
                body(part)
                condition.lock()
                running -= 1
                if running == 0 { condition.broadcast() }
                condition.unlock()
            }
        }

        /// Waits until every part taken has ended (call after `work()`, when none is left to take).
        func waitForBegun() {
            condition.lock()
            while running > 0 { condition.wait() }
            condition.unlock()
        }
    }

    /// Nice 10 for the calling thread (on Linux a thread's own attribute): when a core is contested, the threads
    /// answering requests get it about nine times in ten, so a flood of evaluations slows itself, not the reads of
    /// other orgs. Raising one's nice value needs no privilege; it is never lowered again on these threads.
    static func yieldToRequests() {
        #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }
}
