/// A second log that a run's events must reach before they count: before any subscriber of
/// this engine sees them and before the run acts on them (starts a task body, arms a timer).
/// Runs across nodes use a Redis stream per run (`EddyRunsRedis.RunLogMirror`); then the
/// SQLite log is this node's copy and the replica is the log every node reads.
///
/// A conforming replica:
/// - takes ``replicate(_:)`` calls on the SQLite log's writer thread, in commit order (each
///   run's events in `seq` order), and returns at once (it queues them);
/// - reports each run's progress to the engine with ``DAGEngine/replicaStored(runID:through:)``
///   (every event up to that `seq` is stored), and a run it will never store again (another
///   node owns it now) with ``DAGEngine/replicaRefused(runID:)``.
///
/// See ``DAGEngine/replicate(to:policy:)``.
public protocol EventReplica: AnyObject, Sendable {
    /// Events the SQLite log just committed (see the protocol).
    func replicate(_ events: [EncodedEvent])
}

/// How a run waits for its log of record (``EventReplica``).
public struct ReplicationPolicy: Sendable, Hashable {
    /// How long a run waits for its events to be stored before it logs an `error` event with
    /// code `log_unavailable` (once per outage; the run goes on waiting, and goes on when the
    /// replica stores again). Default 10 s.
    public var appendDeadline: Duration
    /// Events of one run logged here and not yet stored by the replica beyond which a
    /// task body's `progress` and `reportCost` calls wait (the body is held, not the events
    /// dropped). Default 1,000.
    public var maxUnstoredEvents: Int

    public init(appendDeadline: Duration = .seconds(10), maxUnstoredEvents: Int = 1_000) {
        self.appendDeadline = appendDeadline
        self.maxUnstoredEvents = max(1, maxUnstoredEvents)
    }
}
