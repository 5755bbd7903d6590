/// The lifecycle state of one node, with its legal transitions written as a table.
///
/// | from | to |
/// |---|---|
/// | pending | ready, skipped, upstream_failed, cancelled, removed |
/// | ready | running, cancelled |
/// | running | completed, failed, retrying, waiting_human, cancelled |
/// | retrying | running, cancelled |
/// | waiting_human | completed, rejected, failed, cancelled |
/// | completed, failed, skipped, upstream_failed, rejected, cancelled, removed | (terminal) |
///
/// Guarantees: ``NodeTransitionTable/allows(_:_:)`` is the single source of truth; the run
/// state machine refuses (and reports with an `error` event) any transition not in the table.
public enum NodeStatus: String, Sendable, Hashable, CaseIterable {
    case pending
    case ready
    case running
    case retrying
    case waitingHuman = "waiting_human"
    case completed
    case failed
    case skipped
    case upstreamFailed = "upstream_failed"
    case rejected
    case cancelled
    case removed

    /// Terminal states never change again.
    public var isTerminal: Bool {
        NodeTransitionTable.table[self]?.isEmpty ?? true
    }
}
