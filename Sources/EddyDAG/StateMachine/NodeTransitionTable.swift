/// The legal node transitions. See ``NodeStatus`` for the table in prose.
public enum NodeTransitionTable {
    public static let table: [NodeStatus: Set<NodeStatus>] = [
        .pending: [.ready, .skipped, .upstreamFailed, .cancelled, .removed],
        .ready: [.running, .cancelled],
        .running: [.completed, .failed, .retrying, .waitingHuman, .cancelled],
        .retrying: [.running, .cancelled],
        .waitingHuman: [.completed, .rejected, .failed, .cancelled],
        .completed: [], .failed: [], .skipped: [], .upstreamFailed: [], .rejected: [], .cancelled: [], .removed: [],
    ]

    /// Whether `from -> to` is a legal transition.
    public static func allows(_ from: NodeStatus, _ to: NodeStatus) -> Bool {
        table[from]?.contains(to) ?? false
    }
}
