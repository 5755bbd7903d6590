/// Cost accounting and the budget policy.
extension RunStateMachine {
    /// Records a cost report from `id`; emits `cost_update` and trips the budget once.
    mutating func reportCost(from id: NodeID, tokens: Int64?, cost: Double?) {
        guard !finished, nodes[id] != nil else { return }
        if let tokens {
            let previous = nodes[id]?.metrics.tokens ?? 0
            nodes[id]?.metrics.tokens = previous + tokens
        }
        if let cost {
            let previous = nodes[id]?.metrics.cost ?? 0
            nodes[id]?.metrics.cost = previous + cost
            spent += cost
        }
        let remaining = budget.limit.map { max(0, $0 - spent) }
        emit(.costUpdate(ServerEvent.CostUpdate(nodeID: id, spent: spent, budget: budget.limit, remaining: remaining)))
        if let limit = budget.limit, spent >= limit, !budgetTripped {
            tripBudget(limit: limit)
        }
    }

    private mutating func tripBudget(limit: Double) {
        budgetTripped = true
        emit(.error(ServerEvent.ErrorEvent(
            code: "budget_exceeded", message: "spent \(spent) reached the budget of \(limit)")))
        switch budget.onExceeded {
        case .stop:
            guard setExecutionStatus(.budgetExceeded, reason: "budget") else { return }
            cancelNotStarted()
            checkCompletion()
        case .pause:
            if status == .running { setExecutionStatus(.paused, reason: "budget_exceeded") }
        }
    }
}
