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
        case .fixed(let d): return d
        case .exponential(let initial, let multiplier, let maximum):
            var d = initial
            var i = 1
            while i < attempt && d < maximum {
                d = d * multiplier
                i += 1
            }
            return min(d, maximum)
        }
    }
}

/// What happens when nobody decides on a human gate in time.
///
/// Guarantees: the timeout action is applied only if the gate is still waiting; a decision
/// that arrives first wins and the timeout is then ignored.
public struct GateTimeoutPolicy: Sendable, Hashable {
    /// The outcome applied on expiry.
    public enum Action: String, Sendable, Hashable {
        case approve
        case reject
        /// The gate fails (`failed`), its dependants become `upstream_failed`.
        case fail
    }

    public var after: Duration
    public var action: Action

    public init(after: Duration, action: Action) {
        self.after = after
        self.action = action
    }
}

/// The spending limit of a run and what to do when it is reached.
///
/// Guarantees: every cost report produces one `cost_update`; the first report that makes
/// `spent >= limit` trips the policy exactly once per run.
public struct BudgetPolicy: Sendable, Hashable {
    /// Behaviour once `spent` reaches `limit`.
    public enum OnExceeded: String, Sendable, Hashable {
        /// Stop starting nodes, cancel not-started ones, let running ones finish, end as `budget_exceeded`.
        case stop
        /// Pause the run (running nodes finish); an operator may resume it.
        case pause
    }

    /// Money limit in the unit tasks report; `nil` means unlimited.
    public var limit: Double?
    public var onExceeded: OnExceeded

    public init(limit: Double?, onExceeded: OnExceeded = .stop) {
        self.limit = limit
        self.onExceeded = onExceeded
    }

    public static let unlimited = BudgetPolicy(limit: nil)
}
