// Public: the default `path` of the public initializer is computed with FileManager.
public import Foundation

/// Settings of the SQLite event log. Every field has a default.
///
/// Guarantees: the database always runs in WAL mode; `synchronous` is applied as given and its
/// durability meaning is:
/// - `.normal` (default): a committed group survives a process crash (SIGKILL included): the
///   WAL frames are in the OS page cache. The last groups may be lost on an OS crash or power
///   loss (WAL is fsynced at checkpoints only). Cost: no fsync per commit.
/// - `.full`: the WAL is fsynced at every group commit: committed events survive power loss.
///   Cost: one fsync per group (group commit amortises it across every event queued meanwhile).
/// - `.off`: no fsync at all; for tests and benchmarks of the engine only.
public struct EventLogConfiguration: Sendable {
    /// SQLite's `PRAGMA synchronous` setting.
    public enum Synchronous: String, Sendable, Hashable {
        case off = "OFF"
        case normal = "NORMAL"
        case full = "FULL"
    }

    /// Path of the database file. Default: `eddy-events.sqlite` in the current working directory.
    public var path: String
    public var synchronous: Synchronous
    public var retention: RetentionPolicy

    public init(
        path: String = FileManager.default.currentDirectoryPath + "/eddy-events.sqlite",
        synchronous: Synchronous = .normal, retention: RetentionPolicy = RetentionPolicy()
    ) {
        self.path = path
        self.synchronous = synchronous
        self.retention = retention
    }
}

/// Which finished runs the log keeps. Live runs are never deleted.
///
/// Guarantees: applied when the log opens and after every run finishes; a run is deleted
/// whole (events and record), never partially, so the log's `epoch` stays valid for every run
/// it still serves. Defaults keep everything (cost: disk grows with history).
public struct RetentionPolicy: Sendable, Hashable {
    /// Keep at most this many finished runs (the most recently finished). `nil`: no limit.
    public var maxFinishedRuns: Int?
    /// Delete finished runs that finished longer ago than this. `nil`: no limit.
    public var maxAge: Duration?

    public init(maxFinishedRuns: Int? = nil, maxAge: Duration? = nil) {
        self.maxFinishedRuns = maxFinishedRuns
        self.maxAge = maxAge
    }
}

/// A run as recorded in the log.
public struct RunRecord: Sendable, Hashable {
    public var runID: String
    public var createdMs: Int64
    public var finished: Bool
    /// Final status for finished runs.
    public var status: ExecutionStatus?
    public var lastSeq: Int64
}

/// One event queued for the log: its envelope and canonical bytes.
struct LoggedEvent: Sendable {
    var envelope: EventEnvelope
    var bytes: [UInt8]
}

/// One unit of work for the writer thread, processed in queue order.
enum WriteOperation: Sendable {
    case runStarted(String, createdMs: Int64)
    case event(LoggedEvent)
    case runFinished(String, ExecutionStatus, finishedMs: Int64)
    /// Called after everything queued before it is committed and published.
    case barrier(@Sendable () -> Void)
}

/// Receives committed events, in order, on the writer thread.
protocol CommittedEventSink: AnyObject, Sendable {
    func eventsCommitted(_ events: [LoggedEvent])
    func runsDeleted(_ runIDs: [String])
    /// The writer stopped (closed or failed): nothing more will be committed.
    func logStopped()
}
