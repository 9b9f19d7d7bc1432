import ServiceLifecycle

/// Runs `pass` every `interval`, the first after one interval, until graceful shutdown or cancellation: the loop
/// of the background services that sweep.
func everyInterval(_ interval: Duration, _ pass: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { break }
            await pass()
        }
    }
}
