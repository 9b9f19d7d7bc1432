import NIOCore
import NIOPosix
import Synchronization

public struct DeadlineExceeded: Error {}

/// A timer kept by an event loop: the current thread's when it runs one (the gateway runs its tasks on the event
/// loops), else one of the shared group's. `Task.sleep` kept every timer on Dispatch's timer thread: a write to
/// wake that thread and a context switch to set each timer, and again to end it (bench/scale: 8 % of the gateway's
/// CPU with two timers a request that opens an org connection).
struct LoopTimer: Sendable {
    private let scheduled: Scheduled<Void>

    /// Calls `fire` once `delay` has passed, unless cancelled first.
    init(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
        scheduled = callersEventLoop().scheduleTask(in: TimeAmount(delay), fire)
    }

    func cancel() { scheduled.cancel() }
}

/// The event loop the caller runs on, else one of the shared group's: work set up there needs no other thread woken.
func callersEventLoop() -> any EventLoop {
    MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.any()
}

/// Runs `work` and returns its result, or throws `DeadlineExceeded` once `timeout` has passed, whether or
/// not `work` heeds cancellation: the caller never waits past the deadline. Work still running then is
/// cancelled and left to finish on its own; a result it produces after all goes to `onAbandoned` (to close
/// a connection that came too late, say).
public func withDeadline<T: Sendable>(
    _ timeout: Duration,
    onAbandoned: (@Sendable (T) async -> Void)? = nil,
    _ work: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await racing(work, onAbandoned: onAbandoned) { race in
        LoopTimer(after: timeout) { race.finish(.failure(DeadlineExceeded())) }
    }
}

/// Runs `work` in a task of its own and returns its result, or the first other end of the race: cancellation
/// of the caller, or whatever `arm` sets up to call `race.finish` (a timer it returns, cancelled when the race
/// ends; or a callback it registers). The caller never waits for work that lost the race. The other ends are
/// in place before the work starts. With `startingAtOnce` the task runs on the caller's thread (`Task.immediate`)
/// up to its first suspension instead of waiting to be scheduled: for work that suspends soon (a statement
/// written), since until then nothing can end the race.
func racing<T: Sendable>(
    startingAtOnce: Bool = false,
    _ work: @escaping @Sendable () async throws -> T,
    onAbandoned: (@Sendable (T) async -> Void)? = nil,
    arm: (Race<T>) -> LoopTimer?
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            guard race.start(continuation, timer: arm(race)) else { return }
            let run: @Sendable () async -> Void = {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                if !race.finish(result), case .success(let value) = result { await onAbandoned?(value) }
            }
            race.attach(startingAtOnce ? Task.immediate(operation: run) : Task(operation: run))
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of work, deadline (or another end) and cancellation to finish resumes the waiting caller; the
/// others find it gone.
final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var worker: Task<Void, Never>?
        var timer: LoopTimer?
        var result: Result<T, any Error>?
    }
    private let state = Mutex(State())

    /// Registers the waiting caller and the timer; false, the caller resumed, when the race has already ended
    /// (cancelled, or ended by `arm`).
    func start(_ continuation: CheckedContinuation<T, any Error>, timer: LoopTimer?) -> Bool {
        let early = state.withLock { state -> Result<T, any Error>? in
            state.timer = timer
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        guard let early else { return true }
        timer?.cancel()
        continuation.resume(with: early)
        return false
    }

    /// The task running the work: cancelled at once when the race ended before (or while) it was started.
    func attach(_ worker: Task<Void, Never>) {
        let over = state.withLock { state -> Bool in
            if state.result != nil { return true }
            state.worker = worker
            return false
        }
        if over { worker.cancel() }
    }

    /// Ends the race with `result` if it is still on; false when another finished first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        typealias Won = (CheckedContinuation<T, any Error>?, Task<Void, Never>?, LoopTimer?)
        let won = state.withLock { state -> Won? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return (state.continuation, state.worker, state.timer)
        }
        guard let (continuation, worker, timer) = won else { return false }
        worker?.cancel()
        timer?.cancel()
        continuation?.resume(with: result)
        return true
    }
}
