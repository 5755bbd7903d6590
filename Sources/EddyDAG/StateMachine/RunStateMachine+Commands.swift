/// Client commands and human-gate resolution.
extension RunStateMachine {
    /// Applies a client command once per `command_id` and returns its result (without `seq`,
    /// which the I/O layer fills in once the produced events are numbered).
    mutating func handle(_ command: ClientCommand) -> CommandResult {
        if let previous = commands[command.commandID] {
            return CommandResult(
                commandID: command.commandID, status: .duplicate,
                reason: "command_id already answered with \(previous.rawValue)")
        }
        let (status, reason) = apply(command)
        commands[command.commandID] = status
        return CommandResult(commandID: command.commandID, status: status, reason: reason)
    }

    private mutating func apply(_ command: ClientCommand) -> (CommandResult.Status, String?) {
        switch command.action {
        case .pauseExecution:
            guard status == .running else {
                return (.rejected, status == .paused ? "execution is already paused" : "execution is \(status.rawValue)")
            }
            setExecutionStatus(.paused, reason: "requested")
            return (.accepted, nil)
        case .resumeExecution:
            guard status == .paused else { return (.rejected, "execution is not paused (it is \(status.rawValue))") }
            setExecutionStatus(.running, reason: "requested")
            pump()
            return (.accepted, nil)
        case .cancelExecution:
            guard status == .running || status == .paused else {
                return (.rejected, status == .cancelling ? "execution is already cancelling" : "execution is \(status.rawValue)")
            }
            setExecutionStatus(.cancelling, reason: "requested")
            cancelNotStarted()
            for id in order where nodes[id]?.status == .running { actions.append(.cancelTask(id)) }
            checkCompletion()
            return (.accepted, nil)
        case .humanDecision(let request):
            return decide(request, commandID: command.commandID)
        }
    }

    private mutating func decide(_ request: ClientCommand.HumanDecision, commandID: String) -> (CommandResult.Status, String?) {
        guard let gate = nodes[request.nodeID] else { return (.rejected, "unknown node '\(request.nodeID)'") }
        guard gate.definition.isGate else { return (.rejected, "node '\(request.nodeID)' is not a human gate") }
        if let prior = gate.decision { return (.conflict, "gate already resolved: \(prior.rawValue)") }
        guard gate.status == .waitingHuman else {
            return (.rejected, "gate is not waiting for a decision (it is \(gate.status.rawValue))")
        }
        resolveGate(request.nodeID, decision: request.decision, feedback: request.feedback, commandID: commandID)
        return (.accepted, nil)
    }

    /// Resolves a waiting gate: approve/modify complete it (feedback goes into its output and
    /// from there to dependants' inputs), reject marks everything downstream skipped.
    mutating func resolveGate(_ id: NodeID, decision: GateDecision, feedback: String?, commandID: String?) {
        nodes[id]?.decision = decision
        emit(.gateResolved(ServerEvent.GateResolved(nodeID: id, decision: decision, feedback: feedback, commandID: commandID)))
        var output: [JSONValue.Member] = [JSONValue.Member("decision", .string(decision.rawValue))]
        if let feedback { output.append(JSONValue.Member("feedback", .string(feedback))) }
        nodes[id]?.output = .object(output)
        switch decision {
        case .approve, .modify:
            transition(id, to: .completed, output: .object(output))
            propagateCompletion(of: id)
        case .reject:
            transition(id, to: .rejected, output: .object(output))
            markDownstream(of: id, as: .skipped)
        }
        pump()
    }

    /// The gate's timeout expired: apply its policy if it is still waiting.
    mutating func gateTimedOut(_ id: NodeID) {
        guard let gate = nodes[id], gate.status == .waitingHuman, gate.decision == nil,
            case .humanGate(_, let policy?) = gate.definition.kind
        else { return }
        emit(.error(ServerEvent.ErrorEvent(
            nodeID: id, code: "gate_timeout",
            message: "no decision within \(policy.after); applying '\(policy.action.rawValue)'")))
        switch policy.action {
        case .approve: resolveGate(id, decision: .approve, feedback: nil, commandID: nil)
        case .reject: resolveGate(id, decision: .reject, feedback: nil, commandID: nil)
        case .fail:
            transition(id, to: .failed)
            anyFailed = true
            markDownstream(of: id, as: .upstreamFailed)
            pump()
        }
    }
}
