/// What a task body can see and do while it runs.
///
/// Guarantees: every call is applied by the run's actor in order with all other inputs; calls
/// made after the attempt ended (timed out, cancelled, finished) are ignored, except cost
/// reports, which always count (money spent is spent).
public struct NodeContext: Sendable {
    /// The node being run.
    public let nodeID: NodeID
    /// 1-based attempt number.
    public let attempt: Int
    /// The run's id (`dag_id` on the wire).
    public let runID: String
    /// Outputs of the node's dependencies, by node id (a gate's output is
    /// `{ "decision": ..., "feedback"?: ... }`).
    public let inputs: [NodeID: JSONValue]
    let run: DAGRun

    /// Reports cost and usage; produces a `cost_update` and may trip the budget.
    public func reportCost(tokens: Int64? = nil, cost: Double? = nil) async {
        await run.reportCost(from: nodeID, tokens: tokens, cost: cost)
    }

    /// Emits progress: a `node_state` with status `running` and this `output`.
    public func progress(_ output: JSONValue) async {
        await run.progress(from: nodeID, attempt: attempt, output: output)
    }

    /// Whether this attempt was asked to stop (run cancel, timeout).
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` if this attempt was asked to stop.
    public func checkCancellation() throws {
        try Task.checkCancellation()
    }

    /// Whether the run is paused (running nodes may finish; a long task may choose to wait).
    public var isPaused: Bool {
        get async { await run.isPaused }
    }

    /// Adds nodes/edges downstream of this node (or prunes pending ones), validated like a
    /// definition; returns the new graph revision. Throws ``DAGValidationError`` and applies
    /// nothing when a rule is broken.
    @discardableResult
    public func mutate(_ mutation: DAGMutation) async throws(DAGValidationError) -> Int {
        try await run.mutate(mutation, from: nodeID, attempt: attempt)
    }
}
