/// The state of a whole run, with its legal transitions written as a table.
///
/// | from | to |
/// |---|---|
/// | running | paused, cancelling, completed, failed, budget_exceeded, interrupted |
/// | paused | running, cancelling, completed, failed, budget_exceeded, interrupted |
/// | cancelling | cancelled, interrupted |
/// | budget_exceeded | interrupted (the run drains its running nodes, then ends as budget_exceeded) |
/// | completed, failed, cancelled, interrupted | (terminal) |
///
/// `interrupted` is written only by recovery, for runs that were live when the process died.
/// Guarantees: ``ExecutionTransitionTable/allows(_:_:)`` is the single source of truth.
public enum ExecutionStatus: String, Sendable, Hashable, CaseIterable {
    case running
    case paused
    case cancelling
    case cancelled
    case completed
    case failed
    case budgetExceeded = "budget_exceeded"
    case interrupted

    /// No node will ever start again in this state.
    public var stopsScheduling: Bool {
        switch self {
        case .running, .paused: return false
        default: return true
        }
    }
}
