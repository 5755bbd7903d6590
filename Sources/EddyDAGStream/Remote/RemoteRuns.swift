public import EddyDAG

/// Runs this node does not own, read from where their owners mirror their logs (issue 17:
/// runs across nodes; `EddyRunsRedis.RedisRunDirectory` is the Redis implementation). The
/// gateway serves such a run's stream from them, and lists them in `GET /api/dags` and the lobby.
///
/// What a conforming source guarantees:
/// - `summaries()` and `owner(of:)` answer from memory (they are called on event loops).
/// - `follow(runID:)` yields the run's logged events from `seq` 1 on, in `seq` order, each
///   once, with the bytes the owner logged; `.caughtUp` once, after the events that were
///   logged when it began; it finishes after the run's `execution_complete`, and throws when
///   the log cannot be read (the gateway then ends the feed).
/// - `lobbyChanges()` yields other nodes' runs starting, finishing or being removed, each
///   after `summaries()` reflects it (so a lobby that joins between the two misses nothing).
/// - `forward(command:runID:owner:)` returns the owner's reply or nil, never hangs.
public protocol RemoteRuns: Sendable {
    /// Runs other nodes own, as last heard, with their owner.
    func summaries() -> [RemoteRunSummary]
    /// The node that owns `runID`, or nil when no other node is known to own it.
    func owner(of runID: String) -> String?
    /// The run's log, then its live events (see the type).
    func follow(runID: String) -> AsyncThrowingStream<RemoteRunUpdate, any Error>
    /// Other nodes' lobby changes, as they are heard; ends when the source stops.
    func lobbyChanges() -> AsyncStream<LobbyMessage.Event>
    /// Sends a dashboard's command to the run's owner and returns the owner's reply (a
    /// `command_result` decided by its engine), or nil when none came in time. Called once
    /// per command; every call returns.
    func forward(command: [UInt8], runID: String, owner: String) async -> EventEnvelope?
}

/// A run another node owns, as its registry entry says.
public struct RemoteRunSummary: Sendable, Hashable {
    public var node: String
    public var run: RunSummary
    public init(node: String, run: RunSummary) {
        self.node = node
        self.run = run
    }
}

/// What `RemoteRuns.follow(runID:)` yields.
public enum RemoteRunUpdate: Sendable {
    /// One logged event: its bytes as the owner logged them, and their decoding.
    case event(EncodedEvent, EventEnvelope)
    /// Everything logged when following began has been yielded; what follows is live.
    case caughtUp
}
