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
