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
