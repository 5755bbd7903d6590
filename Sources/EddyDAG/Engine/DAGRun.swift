/// The I/O half of one run: drives a ``RunStateMachine``, numbers and logs its events, runs
/// task bodies as child tasks, and arms timers.
///
/// Guarantees: events get consecutive `seq`s in the order the state machine produced them and
/// are queued to the log in that order (one append per input, so a command's events are
/// committed together); a task body never runs on this actor. With a log of record
/// (`replication`), the machine's effects (starting and cancelling bodies, arming timers) are
/// carried out in the order produced, each only once the log of record stored the events
/// produced with it or before: a run never acts on what that log could lose.
actor DAGRun {
    let runID: String
    private let epoch: Int64
    private let clock: EngineClock
    private let log: SQLiteEventLog
    private var machine: RunStateMachine
    private var seq: Int64 = 0
    private var tasks: [NodeID: (attempt: Int, startedMs: Int64, task: Task<Void, Never>)] = [:]
    private var timers: [Int: Task<Void, Never>] = [:]
    private var nextTimer = 0
    private var operations: [WriteOperation] = []
    private var actionBuffer: [RunStateMachine.Action] = []
    private(set) var storageError: DAGEngineError?
    /// The log of record's gate (nil: effects are carried out at once).
    private let replication: ReplicationGate?
    /// Effects waiting for the log of record, each with the `seq` that must be stored first.
    private var deferred: [(through: Int64, action: RunStateMachine.Action)] = []
    /// Whether a task is waiting for the log of record on `deferred`'s behalf.
    private var awaitingRecord = false
    /// The log of record refused the run (or stopped): effects are carried out at once.
    private var unreplicated = false
    /// A wait for the log of record ran past the deadline and `log_unavailable` is logged;
    /// cleared when the log of record stores again (so one error per outage).
    private var overdue = false

    init(runID: String, definition: DAGDefinition, epoch: Int64, clock: EngineClock, log: SQLiteEventLog,
         replication: ReplicationGate? = nil) {
        self.runID = runID
        self.epoch = epoch
        self.clock = clock
        self.log = log
        self.replication = replication
        self.machine = RunStateMachine(definition: definition)
    }

    func start() {
        operations.append(.runStarted(runID, createdMs: clock.now()))
        machine.start()
        drain()
    }

    /// A run adopted from its log (see ``DAGEngine/adopt(_:runID:history:by:)``): `machine` is
    /// in the state the history reduces to, and the next event gets `history.count + 1`.
    init(runID: String, adopting machine: RunStateMachine, history: [LoggedEvent], epoch: Int64, clock: EngineClock,
         log: SQLiteEventLog, replication: ReplicationGate? = nil) {
        self.runID = runID
        self.epoch = epoch
        self.clock = clock
        self.log = log
        self.replication = replication
        self.machine = machine
        self.seq = history.last?.envelope.seq ?? 0
        operations.append(.runStarted(runID, createdMs: history.first?.envelope.ts ?? clock.now()))
        operations += history.map { .event($0) }
    }

    /// Gives the run up here (see ``RunStateMachine/abandon(code:message:)``).
    func abandon(code: String, message: String) {
        machine.abandon(code: code, message: message)
        drain()
    }

    /// Logs the adopted history and the takeover's first events in one append, then goes on.
    func resumeAdopted(by node: String) {
        machine.resumeAfterAdoption(by: node)
        drain()
    }

    var isPaused: Bool { machine.status == .paused }

    /// Whether `execution_complete` was produced (or the log failed and the run was stopped).
    var isFinished: Bool { machine.finished || storageError != nil }

    /// Carries out the machine's actions; queues its events to the log as one append.
    private func drain() {
        guard storageError == nil else {
            _ = machine.takeActions()
            return
        }
        let now = clock.now()
        machine.takeActions(into: &actionBuffer)
        for action in actionBuffer {
            switch action {
            case .emit(let event):
                seq += 1
                let envelope = EventEnvelope(dagID: runID, epoch: epoch, seq: seq, ts: now, event: event)
                operations.append(.event(LoggedEvent(envelope)))
            case .finished(let status):
                operations.append(.runFinished(runID, status, finishedMs: now))
                for timer in timers.values { timer.cancel() }
                timers = [:]
            case .cancelTask(let id):
                // Stopping work never waits for the record; a start still deferred is dropped
                // instead (its node is logged cancelled already).
                deferred.removeAll { if case .startTask(let start) = $0.action { start.nodeID == id } else { false } }
                carryOut(action, now: now)
            case .startTask, .scheduleRetry, .scheduleTimeout, .scheduleGateTimeout:
                if replication == nil || unreplicated {
                    carryOut(action, now: now)
                } else {
                    // `seq` is final here: effects come after the events the same input produced.
                    deferred.append((seq, action))
                }
            }
        }
        // A finished run starts and arms nothing more (its timers were disarmed).
        if machine.finished { deferred.removeAll() }
        if !operations.isEmpty {
            do {
                try log.append(moving: &operations)
            } catch {
                storageFailed(error)
                return
            }
        }
        if !deferred.isEmpty && !awaitingRecord {
            awaitingRecord = true
            Task { await self.carryOutWhenRecorded() }
        }
    }

    private func carryOut(_ action: RunStateMachine.Action, now: Int64) {
        switch action {
        case .startTask(let start):
            launch(start, now: now)
        case .cancelTask(let id):
            tasks[id]?.task.cancel()
        case .scheduleRetry(let id, let attempt, let delay):
            arm(after: delay) { run in await run.retryDue(id, attempt: attempt) }
        case .scheduleTimeout(let id, let attempt, let delay):
            arm(after: delay) { run in await run.attemptTimedOut(id, attempt: attempt, after: delay) }
        case .scheduleGateTimeout(let id, let delay):
            arm(after: delay) { run in await run.gateTimedOut(id) }
        case .emit, .finished:
            break // handled by `drain`
        }
    }

    /// Carries out the deferred effects as the log of record stores the events before them,
    /// in order. Past the policy's deadline it logs one `log_unavailable` error (once per
    /// outage) and goes on waiting. When the run is refused (another node owns it now) or the
    /// log stopped, the deferred effects are dropped: the run is not this node's to start
    /// anything for any more; from then on its effects are not deferred.
    private func carryOutWhenRecorded() async {
        guard let replication else { return }
        // Ends once nothing is deferred, the run is refused or the log failed. While the log of
        // record cannot store, each wait ends at the deadline and the next one begins.
        while let through = deferred.first?.through, storageError == nil, !unreplicated {
            switch await replication.wait(runID: runID, through: through, timeout: replication.policy.appendDeadline,
                                          sleep: clock.sleep) {
            case .stored:
                overdue = false
                let stored = max(through, replication.storedSeq(runID: runID))
                let now = clock.now()
                while let next = deferred.first, next.through <= stored {
                    deferred.removeFirst()
                    carryOut(next.action, now: now)
                }
            case .timedOut:
                logUnavailableOnce()
            case .refused:
                unreplicated = true
                deferred.removeAll()
            }
        }
        awaitingRecord = false
    }

    /// Logs that the log of record has not stored this run's events within the deadline, once
    /// per outage.
    private func logUnavailableOnce() {
        guard let replication, !overdue else { return }
        overdue = true
        seq += 1
        let message = "the log of record has not stored this run's events for \(replication.policy.appendDeadline); the run waits for it"
        let envelope = EventEnvelope(dagID: runID, epoch: epoch, seq: seq, ts: clock.now(),
                                     event: .error(ServerEvent.ErrorEvent(code: "log_unavailable", message: message)))
        operations.append(.event(LoggedEvent(envelope)))
        do {
            try log.append(moving: &operations)
        } catch {
            storageFailed(error)
        }
    }

    /// Holds a task body whose run is more than `maxUnstoredEvents` ahead of its log of record,
    /// until the log of record catches up to half that (or the run is refused).
    private func holdWhileFarAhead() async {
        guard let replication, storageError == nil else { return }
        let limit = replication.policy.maxUnstoredEvents
        // Bounded: each wait ends stored, refused, or at the deadline; the loop ends once the
        // backlog is under the limit, or the run is refused or stopped.
        // Counted from this run's own `seq`: the events it produced, committed to SQLite or
        // still on their way there, that the log of record has not stored.
        while seq - replication.storedSeq(runID: runID) > Int64(limit), storageError == nil, !unreplicated {
            let target = seq - Int64(limit / 2)
            switch await replication.wait(runID: runID, through: target, timeout: replication.policy.appendDeadline,
                                          sleep: clock.sleep) {
            case .stored: overdue = false
            case .timedOut: logUnavailableOnce()
            case .refused: return
            }
        }
    }

    /// The log refused events (disk full, I/O error, closed): events can no longer be made
    /// durable, so the run stops doing work rather than act without a record. Running bodies
    /// are cancelled, timers disarmed, and every later input is ignored.
    private func storageFailed(_ error: DAGEngineError) {
        storageError = error
        operations.removeAll(keepingCapacity: true)
        deferred.removeAll()
        for entry in tasks.values { entry.task.cancel() }
        tasks = [:]
        for timer in timers.values { timer.cancel() }
        timers = [:]
    }

    private func launch(_ start: RunStateMachine.StartTask, now: Int64) {
        let context = NodeContext(
            nodeID: start.nodeID, attempt: start.attempt, runID: runID, inputs: start.inputs, run: self)
        let body = start.body
        let task = Task.detached {
            do {
                let output = try await body(context)
                await self.taskEnded(start.nodeID, attempt: start.attempt, result: .success(output))
            } catch {
                await self.taskEnded(start.nodeID, attempt: start.attempt, result: .failure(error))
            }
        }
        tasks[start.nodeID] = (start.attempt, now, task)
    }

    private func arm(after delay: Duration, _ fire: @escaping @Sendable (DAGRun) async -> Void) {
        nextTimer += 1
        let key = nextTimer
        let sleep = clock.sleep
        timers[key] = Task.detached {
            do {
                try await sleep(delay)
            } catch {
                return
            }
            await self.timerFired(key)
            await fire(self)
        }
    }

    private func timerFired(_ key: Int) {
        timers[key] = nil
    }

    private func taskEnded(_ id: NodeID, attempt: Int, result: Result<JSONValue, any Error>) {
        guard let entry = tasks[id], entry.attempt == attempt else { return }
        tasks[id] = nil
        switch result {
        case .success(let output):
            machine.taskSucceeded(id, attempt: attempt, output: output, durationMs: max(0, clock.now() - entry.startedMs))
        case .failure(let error):
            let message = error is CancellationError ? "cancelled" : String(describing: error)
            machine.taskFailed(id, attempt: attempt, message: message)
        }
        drain()
    }

    private func attemptTimedOut(_ id: NodeID, attempt: Int, after delay: Duration) {
        guard let entry = tasks[id], entry.attempt == attempt else { return }
        tasks[id] = nil
        entry.task.cancel()
        machine.taskFailed(id, attempt: attempt, message: "timed out after \(delay)")
        drain()
    }

    private func retryDue(_ id: NodeID, attempt: Int) {
        machine.retryDue(id, attempt: attempt)
        drain()
    }

    private func gateTimedOut(_ id: NodeID) {
        machine.gateTimedOut(id)
        drain()
    }

    // MARK: Inputs from NodeContext

    func reportCost(from id: NodeID, tokens: Int64?, cost: Double?) async {
        machine.reportCost(from: id, tokens: tokens, cost: cost)
        drain()
        await holdWhileFarAhead()
    }

    func progress(from id: NodeID, attempt: Int, output: JSONValue) async {
        machine.progress(id, attempt: attempt, output: output)
        drain()
        await holdWhileFarAhead()
    }

    func mutate(_ mutation: DAGMutation, from id: NodeID, attempt: Int) throws(DAGValidationError) -> Int {
        let revision = try machine.applyMutation(mutation, from: id, attempt: attempt)
        drain()
        return revision
    }

    // MARK: Commands

    func submit(_ command: ClientCommand) -> CommandResult {
        let before = seq
        var result = machine.handle(command)
        drain()
        if result.status == .accepted && seq > before { result.seq = before + 1 }
        return result
    }

    /// The seq of the last event produced (queued, not necessarily committed yet).
    var headSeq: Int64 { seq }

    /// Transitions refused by the table so far (should stay 0).
    var illegalTransitionCount: Int { machine.illegalTransitions }
}

