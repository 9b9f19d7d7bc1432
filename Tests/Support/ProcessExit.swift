import Foundation

/// The exit of a child process, awaited without blocking a thread. `Process.waitUntilExit` blocks its thread; on a
/// thread of Swift's cooperative pool (one per core) two such waits at once took both of this machine's, Foundation's
/// child-process monitoring could then not deliver the exits, and the whole suite hung (2026-12-01). Made before the
/// process is run: it takes the process's termination handler.
public final class ProcessExit: Sendable {
    private let stream: AsyncStream<Int32>

    public init(_ process: Process) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { finished in
            continuation.yield(finished.terminationStatus)
            continuation.finish()
        }
        self.stream = stream
    }

    /// The process's exit status, once it has exited.
    public func status() async -> Int32 {
        for await status in stream { return status }
        return -1
    }
}
