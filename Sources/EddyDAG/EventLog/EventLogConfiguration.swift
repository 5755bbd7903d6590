// Public: the default `path` of the public initializer is computed with FileManager.
public import Foundation
public import Logging

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
    /// Where the log reports what it cannot do: a failed write (the log then stops), a failed
    /// rollback or retention pass, interrupted runs found at open. Nothing is logged per event.
    /// Default: a logger labelled `eddy.event-log` from whatever `LoggingSystem` the program
    /// bootstrapped (the library never bootstraps one).
    public var logger: Logger

    public init(
        path: String = FileManager.default.currentDirectoryPath + "/eddy-events.sqlite",
        synchronous: Synchronous = .normal, retention: RetentionPolicy = RetentionPolicy(),
        logger: Logger = Logger(label: "eddy.event-log")
    ) {
        self.path = path
        self.synchronous = synchronous
        self.retention = retention
        self.logger = logger
    }
}
