import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import TesseraPostgres

/// `withDeadline`: the caller gets the work's result, or `DeadlineExceeded` once the time has passed whether or not
/// the work heeds cancellation; a result that comes too late goes to `onAbandoned`. Its timer is kept by an event
/// loop: the caller's when it runs on one, else one of the shared group's.
@Suite struct DeadlineTests {
    @Test func workThatEndsFirstGivesItsResult() async throws {
        let value = try await withDeadline(.seconds(30)) { 42 }
        #expect(value == 42)
    }

    /// Waits `delay` whatever happens to the task: what a call blocked on a silent server does.
    static func uncancellableWait(_ delay: TimeAmount) async {
        await withCheckedContinuation { continuation in
            _ = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: delay) { continuation.resume() }
        }
    }

    @Test func workThatIgnoresCancellationIsLeftBehindAtTheDeadlineAndItsLateResultAbandoned() async throws {
        let abandoned = Mutex<[Int]>([])
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            _ = try await withDeadline(
                .milliseconds(200), onAbandoned: { value in abandoned.withLock { $0.append(value) } },
                {
                    await Self.uncancellableWait(.seconds(1))
                    return 7
                })
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(200) && waited < .milliseconds(900), "\(waited)")
        for _ in 0..<100 where abandoned.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(abandoned.withLock { $0 } == [7])
    }

    @Test func aTimerSetOnAnEventLoopFiresThereAndACancelledOneNever() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let fired = try await loop.submit {
            let promise = loop.makePromise(of: Bool.self)
            _ = LoopTimer(after: .milliseconds(50)) { promise.succeed(loop.inEventLoop) }
            let cancelled = LoopTimer(after: .milliseconds(10)) { promise.succeed(false) }
            cancelled.cancel()
            return promise.futureResult
        }.flatMap { $0 }.get()
        #expect(fired)
    }

    @Test func theCallersCancellationEndsTheWaitAtOnce() async throws {
        let started = ContinuousClock.now
        let task = Task {
            try await withDeadline(.seconds(30)) { await Self.uncancellableWait(.seconds(2)) }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}
