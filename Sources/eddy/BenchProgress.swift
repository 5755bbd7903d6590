import Synchronization

/// Counters a load generator's connections bump while it runs, for the progress lines.
/// Only made when progress lines are shown, so a quiet run pays nothing for them.
final class RunProgress: Sendable {
    /// Messages (round trips, deliveries) so far, warm-up included.
    let messages = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
}

/// What a progress line shows at one moment.
struct ProgressSnapshot: Sendable {
    var messages: Int
    var errors: Int
}

/// Runs `body` while printing one progress line a second on stderr (when `enabled`):
/// elapsed time, `noun` so far, the rate over the last second, errors, and "(warm-up)" during
/// the first `warmup`. The printing task is cancelled and awaited before this returns or
/// throws, so no line follows the result.
func withProgressLines<T>(enabled: Bool, noun: String, warmup: Duration, read: @escaping @Sendable () -> ProgressSnapshot,
                          _ body: () async throws -> T) async throws -> T {
    guard enabled else { return try await body() }
    let printer = Task {
        let clock = ContinuousClock()
        let start = clock.now
        var previous = ProgressSnapshot(messages: 0, errors: 0)
        var previousAt = start
        var next = start
        while !Task.isCancelled {
            next += .seconds(1)
            do { try await clock.sleep(until: next) } catch { return } // cancelled: the run is over
            let now = clock.now
            let current = read()
            let seconds = (now - previousAt) / .seconds(1)
            let rate = seconds > 0 ? Int((Double(current.messages - previous.messages) / seconds).rounded()) : 0
            let elapsed = ((now - start) / .seconds(1) * 10).rounded() / 10
            let phase = now - start <= warmup ? " (warm-up)" : ""
            Console.error("progress elapsed=\(elapsed)s \(noun)=\(current.messages) rate=\(rate)/s errors=\(current.errors)\(phase)")
            (previous, previousAt) = (current, now)
        }
    }
    do {
        let result = try await body()
        printer.cancel()
        await printer.value
        return result
    } catch {
        printer.cancel()
        await printer.value
        throw error
    }
}
