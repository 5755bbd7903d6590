/// One run in the runs listing: `{"dag_id", "finished", "status", "last_seq"}`.
public struct RunSummary: Sendable, Hashable {
    public var dagID: String
    /// Whether the run has ended (its `execution_complete` is logged).
    public var finished: Bool
    /// The execution status: the final one for a finished run, the live one (`running`,
    /// `paused` …) otherwise; `nil` for a run known only from an older log without one.
    public var status: ExecutionStatus?
    /// The seq of the run's last logged event.
    public var lastSeq: Int64

    public init(dagID: String, finished: Bool, status: ExecutionStatus?, lastSeq: Int64) {
        self.dagID = dagID
        self.finished = finished
        self.status = status
        self.lastSeq = lastSeq
    }
}
