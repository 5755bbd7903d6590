/// One unit of work for the writer thread, processed in queue order.
enum WriteOperation: Sendable {
    case runStarted(String, createdMs: Int64)
    case event(LoggedEvent)
    case runFinished(String, ExecutionStatus, finishedMs: Int64)
    /// Called after everything queued before it is committed and published.
    case barrier(@Sendable () -> Void)
}
