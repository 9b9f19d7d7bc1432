import Synchronization

public struct DeadlineExceeded: Error {}

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
        Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            race.finish(.failure(DeadlineExceeded()))
        }
    }
}

/// Runs `work` in a task of its own and returns its result, or the first other end of the race: cancellation
/// of the caller, or whatever `arm` sets up to call `race.finish` (a timer it returns, to be cancelled when the
/// race ends; or a callback it registers). The caller never waits for work that lost the race.
func racing<T: Sendable>(
    _ work: @escaping @Sendable () async throws -> T,
    onAbandoned: (@Sendable (T) async -> Void)? = nil,
    arm: (Race<T>) -> Task<Void, Never>?
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(
                continuation,
                worker: Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await work()) } catch { result = .failure(error) }
                    if !race.finish(result), case .success(let value) = result { await onAbandoned?(value) }
                },
                timer: arm(race))
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
        var timer: Task<Void, Never>?
        var result: Result<T, any Error>?
    }
    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>, worker: Task<Void, Never>, timer: Task<Void, Never>? = nil
    ) {
        let early = state.withLock { state -> Result<T, any Error>? in
            state.worker = worker
            state.timer = timer
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early {
            worker.cancel()
            timer?.cancel()
            continuation.resume(with: early)
        }
    }

    /// Ends the race with `result` if it is still on; false when another finished first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        typealias Won = (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, Never>?)
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
