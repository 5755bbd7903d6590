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
