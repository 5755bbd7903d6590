/// The legal execution-status transitions. See ``ExecutionStatus``.
public enum ExecutionTransitionTable {
    public static let table: [ExecutionStatus: Set<ExecutionStatus>] = [
        .running: [.paused, .cancelling, .completed, .failed, .budgetExceeded, .interrupted],
        .paused: [.running, .cancelling, .completed, .failed, .budgetExceeded, .interrupted],
        .cancelling: [.cancelled, .interrupted],
        .budgetExceeded: [.interrupted],
        .completed: [], .failed: [], .cancelled: [], .interrupted: [],
    ]

    public static func allows(_ from: ExecutionStatus, _ to: ExecutionStatus) -> Bool {
        table[from]?.contains(to) ?? false
    }
}
