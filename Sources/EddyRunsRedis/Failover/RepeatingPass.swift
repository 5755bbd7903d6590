import EddyShared

/// A pass of work repeated every interval on one task, started and stopped from anywhere:
/// the lease keeper's renewals and the takeover's polls.
///
/// Guarantees: at most one task at a time (`start` is idempotent); a pass never overlaps
/// the next; `stop` cancels the task and returns once the pass in progress has ended.
final class RepeatingPass: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Starts running `pass` every `interval` (first after one interval), unless running.
    func start(every interval: Duration, _ pass: @escaping @Sendable () async -> Void) {
        task.withLock { task in
            guard task == nil else { return }
            task = Task {
                // Bounded by cancellation (`stop`); a cancelled sleep ends the loop.
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    await pass()
                }
            }
        }
    }

    /// Stops repeating, after the pass in progress (if any) ends.
    func stop() async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }
}
