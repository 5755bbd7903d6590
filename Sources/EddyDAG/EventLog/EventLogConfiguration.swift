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
