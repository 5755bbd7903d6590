/// How often a failed task is attempted again and how long the engine waits in between.
///
/// Guarantees: `maxAttempts` counts every attempt including the first (at least 1);
/// the delay before attempt `n + 1` is computed by ``delay(afterAttempt:)`` and never exceeds
/// the policy's maximum. Timeouts count as failures.
public struct RetryPolicy: Sendable, Hashable {
    /// The waiting time between attempts.
    public enum Backoff: Sendable, Hashable {
        case none
        case fixed(Duration)
        /// `initial * multiplier^(attempt-1)`, capped at `maximum`.
        case exponential(initial: Duration, multiplier: Double, maximum: Duration)
    }

    public var maxAttempts: Int
    public var backoff: Backoff

    public init(maxAttempts: Int, backoff: Backoff = .none) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
    }

    /// One attempt, no retry.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// Delay before the attempt following attempt number `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Duration {
        switch backoff {
        case .none: return .zero
        case .fixed(let delay): return delay
        case .exponential(let initial, let multiplier, let maximum):
            var delay = initial
            var attempted = 1
            while attempted < attempt && delay < maximum {
                delay = delay * multiplier
                attempted += 1
            }
            return min(delay, maximum)
        }
    }
}
