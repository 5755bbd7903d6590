/// Receives committed events, in order, on the writer thread.
protocol CommittedEventSink: AnyObject, Sendable {
    func eventsCommitted(_ events: [LoggedEvent])
    func runsDeleted(_ runIDs: [String])
    /// The writer stopped (closed or failed): nothing more will be committed.
    func logStopped()
}
