/// A run as recorded in the log.
public struct RunRecord: Sendable, Hashable {
    public var runID: String
    public var createdMs: Int64
    public var finished: Bool
    /// Final status for finished runs.
    public var status: ExecutionStatus?
    public var lastSeq: Int64
}
