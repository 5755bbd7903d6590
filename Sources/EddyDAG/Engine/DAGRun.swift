/// The I/O half of one run: drives a ``RunStateMachine``, numbers and logs its events, runs
/// task bodies as child tasks, and arms timers.
///
/// Guarantees: events get consecutive `seq`s in the order the state machine produced them and
/// are queued to the log in that order (one append per input, so a command's events are
/// committed together); a task body never runs on this actor.
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

    init(runID: String, definition: DAGDefinition, epoch: Int64, clock: EngineClock, log: SQLiteEventLog) {
        self.runID = runID
        self.epoch = epoch
        self.clock = clock
        self.log = log
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
         log: SQLiteEventLog) {
        self.runID = runID
        self.epoch = epoch
        self.clock = clock
        self.log = log
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
            case .finished(let status):
                operations.append(.runFinished(runID, status, finishedMs: now))
                for timer in timers.values { timer.cancel() }
                timers = [:]
            }
        }
        guard !operations.isEmpty else { return }
        do {
            try log.append(moving: &operations)
        } catch {
            storageFailed(error)
        }
    }

    /// The log refused events (disk full, I/O error, closed): events can no longer be made
    /// durable, so the run stops doing work rather than act without a record. Running bodies
    /// are cancelled, timers disarmed, and every later input is ignored.
    private func storageFailed(_ error: DAGEngineError) {
        storageError = error
        operations.removeAll(keepingCapacity: true)
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

    func reportCost(from id: NodeID, tokens: Int64?, cost: Double?) {
        machine.reportCost(from: id, tokens: tokens, cost: cost)
        drain()
    }

    func progress(from id: NodeID, attempt: Int, output: JSONValue) {
        machine.progress(id, attempt: attempt, output: output)
        drain()
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
