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

    /// Nice 10 for the calling thread (on Linux a thread's own attribute): when a core is contested, the threads
    /// answering requests get it about nine times in ten, so a flood of evaluations slows itself, not the reads of
    /// other orgs. Raising one's nice value needs no privilege; it is never lowered again on these threads.
    static func yieldToRequests() {
        #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }
}
