import EddyShared

/// Taking a run over from its log, when the process that ran it died (failover).
extension DAGEngine {
    /// Adopts a live run that another process started and can no longer run, from the events
    /// that process logged (`history`: the run's logged events from `seq` 1, in order, as their
    /// canonical bytes, e.g. read from its Redis stream).
    ///
    /// Guarantees:
    /// - the run keeps its id and its epoch (the history's), and its next event is
    ///   `history.count + 1`: to a client, one continuous stream;
    /// - the history is stored in this engine's log first, byte for byte, in the same
    ///   transaction as the takeover's first events, so `since` replays and history work here;
    /// - nodes that completed keep their outputs and are not run again; nodes that were running
    ///   are retried as a new attempt (`node_state retrying`, then `running` with the next
    ///   attempt); gates that were waiting wait again, their timeout counted from now; a paused
    ///   run stays paused; the first new event is an `error` with code `adopted` naming `node`;
    /// - `execution_complete` is emitted once, by this engine, when the run ends.
    ///
    /// What is not carried over: the command ids already answered (a command retried with the
    /// same id after the takeover is applied as new), and budgets' in-flight costs not yet logged.
    ///
    /// - Throws: `notAdoptable` when the history is not a live run of `definition` (empty, not
    ///   consecutive from 1, another run's, mixed epochs, finished, mutated, other nodes),
    ///   `runAlreadyExists` when this engine already knows the run, or the errors of ``start(_:runID:)``.
    public func adopt(_ definition: DAGDefinition, runID: String, history: [EncodedEvent], by node: String)
        async throws(DAGEngineError)
    {
        guard runs[runID] == nil, try !log.hasRun(runID) else { throw DAGEngineError.runAlreadyExists(runID) }
        if let refusal = log.refusal { throw refusal }
        guard hub.liveRunCount() < maxLiveRuns else { throw DAGEngineError.tooManyLiveRuns(limit: maxLiveRuns) }
        let logged = try Self.decodeHistory(history, runID: runID)
        guard let epoch = logged.first?.envelope.epoch else { throw .notAdoptable("the run has no logged event") }
        var store = DAGStateStore(dagID: runID, epoch: epoch)
        for event in logged { store.apply(event.envelope) }
        let machine = try RunStateMachine(adopting: definition, from: store)
        let run = DAGRun(runID: runID, adopting: machine, history: logged, epoch: epoch, clock: clock, log: log,
                         replication: replication.withLock { $0 })
        runs[runID] = run
        hub.register(runID: runID, epoch: epoch)
        await run.resumeAdopted(by: node)
    }

    /// Gives up a live run that another process now runs (this node lost its lease on it):
    /// its running task bodies are cancelled, its timers disarmed, and it ends here with an
    /// `error` (code `relinquished`, saying `reason`), `node_state cancelled` for every node not
    /// finished and `execution_complete` `interrupted`, in this engine's log only. Returns
    /// `false` for a run that is unknown or already over.
    ///
    /// This is the owner's half of fencing: a node that finds its lease taken stops running the
    /// run, so no node body of it runs on two nodes after that point.
    @discardableResult
    public func relinquish(runID: String, reason: String) async -> Bool {
        guard let run = runs[runID], !(await run.isFinished) else { return false }
        await run.abandon(code: "relinquished", message: reason)
        return true
    }

    /// Decodes and checks the history: every event logged, of `runID`, in one epoch, `seq` 1, 2, 3…
    static func decodeHistory(_ history: [EncodedEvent], runID: String) throws(DAGEngineError) -> [LoggedEvent] {
        var logged: [LoggedEvent] = []
        logged.reserveCapacity(history.count)
        for event in history {
            let envelope: EventEnvelope
            do {
                envelope = try ProtocolDecoder.decodeEnvelope(event.bytes)
            } catch {
                throw .notAdoptable("event \(event.seq) does not decode: \(error)")
            }
            guard envelope.event.isLogged, envelope.dagID == runID else {
                throw .notAdoptable("event \(envelope.seq) is not a logged event of run '\(runID)'")
            }
            guard envelope.seq == Int64(logged.count + 1) else {
                throw .notAdoptable("expected seq \(logged.count + 1), found \(envelope.seq)")
            }
            if let first = logged.first, first.envelope.epoch != envelope.epoch {
                throw .notAdoptable("event \(envelope.seq) is of epoch \(envelope.epoch), not \(first.envelope.epoch)")
            }
            let encoded = EncodedEvent(dagID: runID, epoch: envelope.epoch, seq: envelope.seq, isLogged: true, bytes: event.bytes)
            logged.append(LoggedEvent(envelope: envelope, encoded: encoded))
        }
        return logged
    }
}
