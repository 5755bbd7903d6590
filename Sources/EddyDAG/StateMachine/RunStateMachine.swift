/// The sans-IO scheduler of one run: it owns node and execution state, applies inputs (task
/// results, timers, commands, cost reports, mutations) and returns ``Action``s for the I/O layer
/// (``DAGRun``) to carry out, in order. It never sleeps, spawns or reads a clock.
///
/// Guarantees:
/// - every state change is announced by exactly one event action, in the order it happened;
/// - node transitions follow ``NodeTransitionTable`` and execution transitions
///   ``ExecutionTransitionTable``; an illegal one is refused and reported (`error` event with
///   code `illegal_transition`), never applied;
/// - at most `maxConcurrency` task nodes are running; nothing starts unless the run is `running`;
/// - results of stale attempts (timed out, superseded) are ignored;
/// - `execution_complete` is emitted exactly once, as the last event.
struct RunStateMachine {
    /// A side effect the I/O layer must perform.
    enum Action {
        case emit(ServerEvent)
        case startTask(StartTask)
        case cancelTask(NodeID)
        case scheduleRetry(NodeID, attempt: Int, after: Duration)
        case scheduleTimeout(NodeID, attempt: Int, after: Duration)
        case scheduleGateTimeout(NodeID, after: Duration)
        case finished(ExecutionStatus)
    }

    /// Everything needed to launch one attempt of a task node.
    struct StartTask {
        var nodeID: NodeID
        var attempt: Int
        var body: TaskBody
        var inputs: [NodeID: JSONValue]
    }

    struct Node {
        var definition: NodeDefinition
        var status: NodeStatus = .pending
        var attempt = 0
        var dependants: [NodeID] = []
        var unmetDependencies = 0
        var output: JSONValue?
        var metrics = NodeMetrics()
        var decision: GateDecision?
    }

    var nodes: [NodeID: Node] = [:]
    var order: [NodeID] = []
    var queue: [NodeID] = []
    var queueHead = 0
    var runningCount = 0
    var nonTerminalCount = 0
    var status: ExecutionStatus = .running
    var spent: Double = 0
    let budget: BudgetPolicy
    let maxConcurrency: Int
    var budgetTripped = false
    var anyFailed = false
    var revision = 0
    var commands: [String: CommandResult.Status] = [:]
    var actions: [Action] = []
    var finished = false
    /// Transitions refused because the table does not allow them (a bug indicator; 0 in tests).
    var illegalTransitions = 0

    init(definition: DAGDefinition) {
        budget = definition.budget
        maxConcurrency = definition.maxConcurrency
        nodes.reserveCapacity(definition.nodes.count)
        for def in definition.nodes {
            insert(def)
        }
    }

    mutating func insert(_ def: NodeDefinition) {
        var node = Node(definition: def)
        for dep in def.dependencies {
            nodes[dep]?.dependants.append(def.id)
            if nodes[dep]?.status != .completed { node.unmetDependencies += 1 }
        }
        nodes[def.id] = node
        order.append(def.id)
        nonTerminalCount += 1
    }

    /// Returns and clears the pending actions.
    mutating func takeActions() -> [Action] {
        var taken: [Action] = []
        swap(&taken, &actions)
        return taken
    }

    /// Moves the pending actions into `buffer` (emptied first), and gives the machine the
    /// buffer's old storage back: the I/O layer recycles two arrays instead of allocating one
    /// per input.
    mutating func takeActions(into buffer: inout [Action]) {
        buffer.removeAll(keepingCapacity: true)
        swap(&buffer, &actions)
    }

    func isGate(_ id: NodeID) -> Bool { nodes[id]?.definition.isGate ?? false }

    // MARK: Start

    mutating func start() {
        revision = 1
        var infos: [ServerEvent.NodeInfo] = []
        var edges: [Edge] = []
        infos.reserveCapacity(order.count)
        for id in order {
            guard let node = nodes[id] else { continue }
            infos.append(ServerEvent.NodeInfo(id: id, kind: node.definition.kindName, label: node.definition.label))
            for dep in node.definition.dependencies { edges.append(Edge(from: dep, to: id)) }
        }
        emit(.dagMutated(ServerEvent.GraphMutation(revision: 1, addedNodes: infos, addedEdges: edges)))
        emit(.executionState(ServerEvent.ExecutionState(status: .running)))
        if let limit = budget.limit {
            emit(.costUpdate(ServerEvent.CostUpdate(spent: 0, budget: limit, remaining: limit)))
        }
        for id in order where nodes[id]?.unmetDependencies == 0 {
            if transition(id, to: .ready) { queue.append(id) }
        }
        pump()
    }

    // MARK: Helpers

    mutating func emit(_ event: ServerEvent) {
        actions.append(.emit(event))
    }

    /// Applies `id -> to` if the table allows it and emits `node_state`; otherwise reports it.
    @discardableResult
    mutating func transition(
        _ id: NodeID, to: NodeStatus, output: JSONValue? = nil, metrics: NodeMetrics? = nil, announce: Bool = true
    ) -> Bool {
        guard let from = nodes[id]?.status else { return false }
        guard NodeTransitionTable.allows(from, to) else {
            illegalTransitions += 1
            emit(.error(ServerEvent.ErrorEvent(
                nodeID: id, code: "illegal_transition",
                message: "refused node transition \(from.rawValue) -> \(to.rawValue)")))
            return false
        }
        nodes[id]?.status = to
        if to.isTerminal { nonTerminalCount -= 1 }
        if announce {
            let attempt = (to == .running || to == .retrying) ? nodes[id]?.attempt : nil
            emit(.nodeState(ServerEvent.NodeState(nodeID: id, status: to, attempt: attempt, output: output, metrics: metrics)))
        }
        return true
    }

    /// Changes the execution status if the table allows it; announces non-terminal ones.
    @discardableResult
    mutating func setExecutionStatus(_ to: ExecutionStatus, reason: String? = nil) -> Bool {
        guard ExecutionTransitionTable.allows(status, to) else { return false }
        status = to
        emit(.executionState(ServerEvent.ExecutionState(status: to, reason: reason)))
        return true
    }

    /// Marks every pending node downstream of `root` as `status` (skipped / upstream_failed).
    mutating func markDownstream(of root: NodeID, as status: NodeStatus) {
        var stack = nodes[root]?.dependants ?? []
        while let id = stack.popLast() {
            guard nodes[id]?.status == .pending else { continue }
            transition(id, to: status)
            stack.append(contentsOf: nodes[id]?.dependants ?? [])
        }
    }

    /// Cancels every node that is not running and not terminal.
    mutating func cancelNotStarted() {
        for id in order {
            switch nodes[id]?.status {
            case .pending, .ready, .retrying, .waitingHuman: transition(id, to: .cancelled)
            default: break
            }
        }
    }

    // MARK: Scheduling

    /// Starts queued nodes while the run is `running` and below the concurrency limit.
    mutating func pump() {
        if status == .running {
            while runningCount < maxConcurrency && queueHead < queue.count {
                let id = queue[queueHead]
                queueHead += 1
                startNode(id)
            }
            if queueHead > 1024 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
        }
        checkCompletion()
    }

    private mutating func startNode(_ id: NodeID) {
        guard let node = nodes[id], node.status == .ready || node.status == .retrying else { return }
        nodes[id]?.attempt = node.attempt + 1
        guard transition(id, to: .running) else { return }
        switch node.definition.kind {
        case .task(let body):
            runningCount += 1
            var inputs: [NodeID: JSONValue] = [:]
            for dep in node.definition.dependencies { inputs[dep] = nodes[dep]?.output ?? .null }
            actions.append(.startTask(StartTask(nodeID: id, attempt: node.attempt + 1, body: body, inputs: inputs)))
            if let timeout = node.definition.timeout {
                actions.append(.scheduleTimeout(id, attempt: node.attempt + 1, after: timeout))
            }
        case .humanGate(let presentation, let timeout):
            transition(id, to: .waitingHuman)
            emit(.humanGateWaiting(ServerEvent.GateWaiting(nodeID: id, presentation: presentation)))
            if let timeout { actions.append(.scheduleGateTimeout(id, after: timeout.after)) }
        }
    }

    /// A node completed: activate edges, make dependants ready.
    mutating func propagateCompletion(of id: NodeID) {
        for dep in nodes[id]?.dependants ?? [] {
            guard let dependant = nodes[dep], dependant.status == .pending else { continue }
            emit(.edgeActive(Edge(from: id, to: dep)))
            let unmet = dependant.unmetDependencies - 1
            nodes[dep]?.unmetDependencies = unmet
            if unmet == 0 && transition(dep, to: .ready) { queue.append(dep) }
        }
    }

    // MARK: Task results

    mutating func taskSucceeded(_ id: NodeID, attempt: Int, output: JSONValue, durationMs: Int64) {
        guard let node = nodes[id], node.status == .running, node.attempt == attempt else { return }
        runningCount -= 1
        nodes[id]?.output = output
        nodes[id]?.metrics.durationMs = durationMs
        var metrics = node.metrics
        metrics.durationMs = durationMs
        transition(id, to: .completed, output: output, metrics: metrics)
        propagateCompletion(of: id)
        pump()
    }

    mutating func taskFailed(_ id: NodeID, attempt: Int, message: String) {
        guard let node = nodes[id], node.status == .running, node.attempt == attempt else { return }
        runningCount -= 1
        if status == .cancelling {
            transition(id, to: .cancelled)
        } else if attempt < node.definition.retry.maxAttempts && !status.stopsScheduling {
            transition(id, to: .retrying)
            emit(.error(ServerEvent.ErrorEvent(
                nodeID: id, code: "attempt_failed",
                message: "attempt \(attempt) of \(node.definition.retry.maxAttempts) failed: \(message)")))
            actions.append(.scheduleRetry(id, attempt: attempt, after: node.definition.retry.delay(afterAttempt: attempt)))
        } else {
            transition(id, to: .failed, metrics: node.metrics.isEmpty ? nil : node.metrics)
            emit(.error(ServerEvent.ErrorEvent(nodeID: id, code: "node_failed", message: message)))
            anyFailed = true
            markDownstream(of: id, as: .upstreamFailed)
        }
        pump()
    }

    mutating func retryDue(_ id: NodeID, attempt: Int) {
        guard let node = nodes[id], node.status == .retrying, node.attempt == attempt else { return }
        queue.append(id)
        pump()
    }

    /// Emits a progress `node_state` (same status, new output) for a running node.
    mutating func progress(_ id: NodeID, attempt: Int, output: JSONValue) {
        guard let node = nodes[id], node.status == .running, node.attempt == attempt, !finished else { return }
        emit(.nodeState(ServerEvent.NodeState(nodeID: id, status: .running, attempt: attempt, output: output)))
    }

    // MARK: Completion

    mutating func checkCompletion() {
        guard !finished else { return }
        switch status {
        case .running, .paused:
            if runningCount == 0 && nonTerminalCount == 0 { finish(anyFailed ? .failed : .completed) }
        case .cancelling:
            if runningCount == 0 { finish(.cancelled) }
        case .budgetExceeded:
            if runningCount == 0 { finish(.budgetExceeded) }
        case .completed, .failed, .cancelled, .interrupted:
            break
        }
    }

    /// Once a run has ended no body can run again: drop the user's closures (and whatever they
    /// captured), keeping only what command answers need (statuses, gate decisions, command ids).
    private mutating func releaseTaskBodies() {
        let released: TaskBody = { _ in .null }
        for id in order {
            if case .task = nodes[id]?.definition.kind { nodes[id]?.definition.kind = .task(released) }
        }
    }

    /// Gives the run up in this process (another process now runs it): an `error` with `code`,
    /// every node not terminal cancelled (running tasks are asked to stop), and the run ends
    /// `interrupted`. Nothing more is emitted for it.
    mutating func abandon(code: String, message: String) {
        guard !finished else { return }
        emit(.error(ServerEvent.ErrorEvent(code: code, message: message)))
        for id in order {
            guard let node = nodes[id], !node.status.isTerminal else { continue }
            if node.status == .running, case .task = node.definition.kind { actions.append(.cancelTask(id)) }
            if NodeTransitionTable.allows(node.status, .cancelled) { transition(id, to: .cancelled) }
        }
        runningCount = 0
        finish(.interrupted)
    }

    private mutating func finish(_ final: ExecutionStatus) {
        if final != status {
            guard ExecutionTransitionTable.allows(status, final) else { return }
            status = final
        }
        finished = true
        releaseTaskBodies()
        var results: [JSONValue.Member] = []
        for id in order {
            if let node = nodes[id], node.status == .completed { results.append(JSONValue.Member(id, node.output ?? .null)) }
        }
        emit(.executionComplete(ServerEvent.ExecutionComplete(status: final, results: results)))
        actions.append(.finished(final))
    }
}
