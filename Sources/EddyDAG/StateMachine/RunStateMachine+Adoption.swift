/// Adoption: a machine rebuilt from a run's logged state (another process started the run and
/// died), which goes on from where the log stops.
extension RunStateMachine {
    /// The machine of `definition` in the state `store` reduced from the run's logged events.
    ///
    /// Refused (`notAdoptable`) when the log does not describe a live run of this definition:
    /// the run finished, its graph was mutated (revision above 1: the nodes added by handlers
    /// are not in the definition), or its nodes are not the definition's.
    init(adopting definition: DAGDefinition, from store: DAGStateStore) throws(DAGEngineError) {
        self.init(definition: definition)
        let state = store.state
        guard !store.isFinished else { throw .notAdoptable("the run has finished") }
        guard state.revision == 1 else {
            throw .notAdoptable("the run's graph is at revision \(state.revision); only unmutated runs (revision 1) can be adopted")
        }
        let logged = Set(state.nodes.map(\.id))
        guard logged == Set(order) else {
            throw .notAdoptable("the logged nodes are not the definition's (\(logged.sorted()) vs \(order.sorted()))")
        }
        revision = state.revision
        status = state.status
        spent = state.cost.spent
        budgetTripped = state.status == .budgetExceeded
        for node in state.nodes {
            nodes[node.id]?.status = node.status
            nodes[node.id]?.attempt = node.attempt
            nodes[node.id]?.output = node.output
            if let metrics = node.metrics { nodes[node.id]?.metrics = metrics }
            if node.status.isTerminal { nonTerminalCount -= 1 }
            if node.status == .failed { anyFailed = true }
        }
        for id in order {
            let dependencies = nodes[id]?.definition.dependencies ?? []
            let unmet = dependencies.filter { nodes[$0]?.status != .completed }.count
            nodes[id]?.unmetDependencies = unmet
        }
    }

    /// Goes on from the adopted state: announces the takeover (`error` with code `adopted`),
    /// moves every node that was running to `retrying` and queues it for a new attempt (or
    /// cancels it when the run is cancelling or over budget), queues the ready and retrying
    /// nodes again, re-arms the timeouts of the gates still waiting (they wait again, their
    /// timeout counted from now), and starts what can start. Completed nodes keep their
    /// outputs and never run again.
    ///
    /// An attempt cut off by the takeover is retried even past the node's `maxAttempts`: it
    /// did not fail, its process died.
    mutating func resumeAfterAdoption(by node: String) {
        emit(.error(ServerEvent.ErrorEvent(
            code: "adopted",
            message: "node \(node) took this run over from its log; attempts that were running are retried")))
        for id in order {
            guard let current = nodes[id] else { continue }
            switch current.status {
            case .running where current.definition.isGate:
                // Logged between `running` and `waiting_human`: the gate starts waiting again.
                nodes[id]?.status = .ready
                nodes[id]?.attempt = max(0, current.attempt - 1)
                queue.append(id)
            case .running:
                if status.stopsScheduling {
                    transition(id, to: .cancelled)
                } else if transition(id, to: .retrying) {
                    queue.append(id)
                }
            case .ready, .retrying:
                queue.append(id)
            case .waitingHuman:
                if case .humanGate(_, let timeout?) = current.definition.kind {
                    actions.append(.scheduleGateTimeout(id, after: timeout.after))
                }
            default:
                break
            }
        }
        pump()
    }
}
