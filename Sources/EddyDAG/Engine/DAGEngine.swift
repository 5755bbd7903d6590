import EddyShared

/// Runs DAGs, records every event durably, and streams them to subscribers.
///
/// ```swift
/// let engine = try DAGEngine(configuration: .init(eventLog: .init(path: "/var/lib/app/events.sqlite")))
/// let runID = try await engine.start(definition)
/// for await envelope in try engine.subscribe(runID: runID) { ... }
/// let result = await engine.submit(command, runID: runID)
/// ```
/// Guarantees:
/// - every state change of a run is an event with a unique consecutive `seq`, appended to the
///   SQLite log before it is published to any subscriber (see ``SQLiteEventLog``);
/// - every client command gets exactly one ``CommandResult``;
/// - at open, runs left live by a previous process are marked interrupted;
/// - ``waitForCompletion(runID:)`` returns only once the run's last event is committed.
public actor DAGEngine {
    /// Engine settings; every field has a default.
    public struct Configuration: Sendable {
        public var eventLog: EventLogConfiguration
        public var clock: EngineClock
        /// Runs live at once at most; `start` beyond it throws (`isTooManyLiveRuns`).
        /// Default 1,000: each live run holds an actor, its node tasks and its state in memory.
        public var maxLiveRuns: Int
        public init(eventLog: EventLogConfiguration = EventLogConfiguration(), clock: EngineClock = .system,
                    maxLiveRuns: Int = 1_000) {
            self.eventLog = eventLog
            self.clock = clock
            self.maxLiveRuns = max(1, maxLiveRuns)
        }
    }

    public nonisolated let log: SQLiteEventLog
    nonisolated let hub: EventHub
    let clock: EngineClock
    let maxLiveRuns: Int
    var runs: [String: DAGRun] = [:]
    private var nextRunNumber = 0
    /// The log of record's gate, once ``replicate(to:policy:)`` installed one.
    nonisolated let replication = Mutex<ReplicationGate?>(nil)

    /// Opens (or creates) the event log and recovers interrupted runs.
    public init(configuration: Configuration = Configuration()) throws(DAGEngineError) {
        let clock = configuration.clock
        let log = try SQLiteEventLog(configuration: configuration.eventLog, now: clock.now)
        let hub = EventHub(log: log, now: clock.now)
        log.attach(hub)
        self.log = log
        self.hub = hub
        self.clock = clock
        self.maxLiveRuns = configuration.maxLiveRuns
    }

    /// Makes `replica` this engine's log of record (see ``EventReplica``): from now on a run's
    /// events reach this engine's subscribers only once the replica stored them, and a run
    /// starts task bodies and arms timers only once the events that led to them are stored.
    /// While the replica cannot store, runs wait: an `error` event (code `log_unavailable`)
    /// after `policy.appendDeadline`, task bodies held past `policy.maxUnstoredEvents`.
    ///
    /// Call it once, before any run starts or is adopted.
    /// - Throws: `replicationRefused` when a replica is attached already or a run is live.
    public nonisolated func replicate(to replica: any EventReplica, policy: ReplicationPolicy = ReplicationPolicy())
        throws(DAGEngineError)
    {
        try replication.withLock { (gate) throws(DAGEngineError) in
            guard gate == nil else { throw DAGEngineError.replicationRefused("a log of record is attached already") }
            guard hub.liveRunCount() == 0 else {
                throw DAGEngineError.replicationRefused("runs are live; attach the log of record before any starts")
            }
            let installed = ReplicationGate(hub: hub, replica: replica, policy: policy)
            log.attach(installed)
            gate = installed
        }
    }

    /// For the replica: every event of `runID` up to `seq` is stored (see ``EventReplica``).
    public nonisolated func replicaStored(runID: String, through seq: Int64) {
        replication.withLock { $0 }?.stored(runID: runID, through: seq)
    }

    /// For the replica: it will never store `runID` again (another process owns the run now).
    /// The run's events are then published here as they commit; the effects it deferred are
    /// dropped and later ones carried out at once — call ``relinquish(runID:reason:)`` to end
    /// it here.
    public nonisolated func replicaRefused(runID: String) {
        replication.withLock { $0 }?.refused(runID: runID)
    }

    /// The log's epoch (see ``EventEnvelope/epoch``).
    public nonisolated var epoch: Int64 { log.epoch }

    /// Starts a run of `definition`; returns its id (`dag_id`). The first events
    /// (`dag_mutated` revision 1, `execution_state running`, ready nodes) are queued before return.
    /// - Throws: `DAGEngineError` for a run id already used, a failed log, or when
    ///   `maxLiveRuns` runs are live (`isTooManyLiveRuns`: start again once one finishes).
    @discardableResult
    public func start(_ definition: DAGDefinition, runID: String? = nil) async throws(DAGEngineError) -> String {
        let id: String
        if let runID {
            id = runID
        } else {
            nextRunNumber += 1
            id = "run-\(clock.now())-\(nextRunNumber)"
        }
        guard runs[id] == nil, try !log.hasRun(id) else { throw DAGEngineError.runAlreadyExists(id) }
        if let refusal = log.refusal { throw refusal }
        // Starts are serialised by this actor: the count cannot pass the limit between check and start.
        guard hub.liveRunCount() < maxLiveRuns else { throw DAGEngineError.tooManyLiveRuns(limit: maxLiveRuns) }
        let run = DAGRun(runID: id, definition: definition, epoch: log.epoch, clock: clock, log: log,
                         replication: replication.withLock { $0 })
        runs[id] = run
        hub.register(runID: id)
        await run.start()
        return id
    }

    /// Applies a decoded client command to a run and returns its result.
    public func submit(_ command: ClientCommand, runID: String) async -> CommandResult {
        guard let run = runs[runID] else {
            return CommandResult(commandID: command.commandID, status: .rejected, reason: "unknown or finished run '\(runID)'")
        }
        return await run.submit(command)
    }

    /// Drops the in-memory state machine of a finished run (its history stays in the log and
    /// is still served). Later commands for it are rejected as for an unknown run. Returns
    /// `false` if the run is unknown or still live.
    @discardableResult
    public func forget(runID: String) async -> Bool {
        guard let run = runs[runID], await run.isFinished else { return false }
        runs[runID] = nil
        return true
    }

    /// Decodes a client message, applies it, and returns the session message to send back:
    /// a `command_result`, or an `error` (code `bad_message`) when the message cannot be decoded.
    public func handleClientMessage(_ bytes: [UInt8], runID: String) async -> EventEnvelope {
        // Safe to drop (here and below): the seq only positions the reply; an unknown run reads as 0.
        let before = try? hub.store(runID: runID)
        let head = before?.seq ?? 0
        // The run's epoch: the log's, or for an adopted run the one it was started in.
        let epoch = before?.epoch ?? self.epoch
        do {
            let command = try ProtocolDecoder.decodeCommand(bytes)
            let result = await submit(command, runID: runID)
            let seq = result.seq ?? ((try? hub.store(runID: runID).seq) ?? head)
            return EventEnvelope(dagID: runID, epoch: epoch, seq: seq, ts: clock.now(), event: .commandResult(result))
        } catch {
            let code = error.isUnknownType ? "unknown_command" : "bad_message"
            return EventEnvelope(
                dagID: runID, epoch: epoch, seq: head, ts: clock.now(),
                event: .error(ServerEvent.ErrorEvent(code: code, message: error.description)))
        }
    }

    /// Subscribes to a run. With `since` (and the client's `epoch`, if it has one) equal to a
    /// seq still in the log, replays the events after it; otherwise starts with a `snapshot`.
    /// Then streams live events. Gap-free and duplicate-free (see `EventHub`).
    public nonisolated func subscribe(runID: String, since: Int64? = nil, epoch: Int64? = nil)
        throws(DAGEngineError) -> EventSubscription
    {
        try hub.subscribe(runID: runID, since: since, epoch: epoch)
    }

    /// As ``subscribe(runID:since:epoch:)``, each event as its canonical bytes, encoded once
    /// (when it was logged; a starting snapshot when it is taken) and never decoded on the way.
    public nonisolated func subscribeEncoded(runID: String, since: Int64? = nil, epoch: Int64? = nil)
        throws(DAGEngineError) -> EncodedEventSubscription
    {
        try hub.subscribeEncoded(runID: runID, since: since, epoch: epoch)
    }

    /// The lobby: the runs listing, then every run starting, finishing or being deleted by retention,
    /// atomically with publication (no run missed or reported twice). Ends at ``shutdown()``.
    public nonisolated func subscribeLobby() throws(DAGEngineError) -> LobbySubscription {
        try hub.subscribeLobby()
    }

    /// The runs listing as a lobby `runs` message whose `serial` is that of the last lobby
    /// message it reflects (for a lobby client catching up).
    public nonisolated func lobbyListing() throws(DAGEngineError) -> LobbyMessage {
        try hub.lobbyListing()
    }

    /// Every run the engine knows, oldest first, with the live status of running ones.
    public nonisolated func runSummaries() throws(DAGEngineError) -> [RunSummary] {
        try hub.runs()
    }

    /// The run's current durable state as a `snapshot` envelope.
    public nonisolated func snapshot(runID: String) throws(DAGEngineError) -> EventEnvelope {
        try hub.snapshot(runID: runID)
    }

    /// A `heartbeat` session message for the run's stream (the gateway sends one periodically
    /// so browsers, which cannot send pings, notice a dead connection). Its `seq` is the head.
    public nonisolated func heartbeat(runID: String) throws(DAGEngineError) -> EventEnvelope {
        let store = try hub.store(runID: runID)
        return EventEnvelope(dagID: runID, epoch: store.epoch, seq: store.seq, ts: log.currentTime, event: .heartbeat)
    }

    /// The run's durable state store (reducer) as of the last published event.
    public nonisolated func state(runID: String) throws(DAGEngineError) -> DAGStateStore {
        try hub.store(runID: runID)
    }

    /// The run as it was right after its logged event `seq`, rebuilt from the durable log: a
    /// `snapshot` envelope at `min(seq, head)`, stamped with that event's time (0 for `seq` 0,
    /// before any event). Works for finished runs after a restart (time travel).
    ///
    /// Reads and reduces the log's events up to `seq`: O(seq); call it off an event loop.
    public nonisolated func historicalSnapshot(runID: String, at seq: Int64) throws(DAGEngineError) -> EventEnvelope {
        guard try log.hasRun(runID) else { throw DAGEngineError.unknownRun(runID) }
        let events = try log.events(runID: runID, after: 0, upTo: max(0, seq))
        var store = DAGStateStore(dagID: runID, epoch: events.first?.epoch ?? log.epoch)
        var ts: Int64 = 0
        for envelope in events {
            store.apply(envelope)
            ts = envelope.ts
        }
        return store.snapshotEnvelope(ts: ts)
    }

    /// The run's logged events after `seq`, from the log.
    public nonisolated func events(runID: String, after seq: Int64 = 0) throws(DAGEngineError) -> [EventEnvelope] {
        guard try log.hasRun(runID) else { throw DAGEngineError.unknownRun(runID) }
        return try log.events(runID: runID, after: seq)
    }

    /// Waits until the run has ended and its last event is committed; `nil` for an unknown run,
    /// or when the log stopped (``shutdown()`` or a storage failure) before the run ended.
    /// Never blocks the caller's executor: the hub may read the log, and does so off it.
    public nonisolated func waitForCompletion(runID: String) async -> ExecutionStatus? {
        await hub.waitForCompletion(runID: runID)
    }

    /// Transitions the state machines refused so far across live runs (0 unless there is a bug).
    public func illegalTransitionCount() async -> Int {
        var total = 0
        for run in runs.values { total += await run.illegalTransitionCount }
        return total
    }

    /// Commits everything queued and stops the log's writer thread. Runs still live stay
    /// unfinished in the log and are marked interrupted by the next open.
    public func shutdown() async {
        await log.close()
    }
}
