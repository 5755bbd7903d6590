/// A change a running task makes to its own DAG: dynamic fan-out (add nodes and edges
/// downstream of itself) and pruning of not-yet-started nodes downstream of itself.
///
/// Rules checked atomically before anything is applied (see ``DAGValidationError``):
/// - the mutating node must be `running`;
/// - every added node must be downstream of the mutating node (depend on it, directly or
///   through other added nodes); added ids must be new;
/// - an added edge goes from the mutating node or an added node to an added node or to an
///   existing `pending` node downstream of the mutating node;
/// - a removed node must be `pending` and downstream of the mutating node; nodes depending
///   on it must be removed too;
/// - the resulting graph must pass ``DAGValidator`` (no cycle, gates lead somewhere).
public struct DAGMutation: Sendable {
    public var addedNodes: [NodeDefinition]
    public var addedEdges: [Edge]
    public var removedNodes: [NodeID]

    public init(addNodes: [NodeDefinition] = [], addEdges: [Edge] = [], removeNodes: [NodeID] = []) {
        self.addedNodes = addNodes
        self.addedEdges = addEdges
        self.removedNodes = removeNodes
    }
}
