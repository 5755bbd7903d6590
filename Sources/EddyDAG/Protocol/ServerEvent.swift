/// Every message the server sends about a run, discriminated on the wire by `type`.
///
/// Logged events (stored in the event log, each with its own `seq`): `node_state`,
/// `edge_active`, `dag_mutated`, `cost_update`, `execution_complete`, `human_gate_waiting`,
/// `gate_resolved`, `error`, `execution_state`.
/// Session messages (sent to one connection, not logged, `seq` = last logged seq they reflect):
/// `snapshot`, `command_result`, `heartbeat`.
///
/// Guarantees: switches over this enum are exhaustive; field names and order on the wire are
/// fixed by ``ProtocolEncoder`` and specified in `docs/protocol.md`.
public enum ServerEvent: Sendable, Hashable {
    case nodeState(NodeState)
    case edgeActive(Edge)
    case dagMutated(GraphMutation)
    case costUpdate(CostUpdate)
    case executionComplete(ExecutionComplete)
    case humanGateWaiting(GateWaiting)
    case gateResolved(GateResolved)
    case error(ErrorEvent)
    case executionState(ExecutionState)
    indirect case snapshot(DAGSnapshot)
    case commandResult(CommandResult)
    case heartbeat

    /// The wire `type` string.
    public var typeName: String {
        switch self {
        case .nodeState: return "node_state"
        case .edgeActive: return "edge_active"
        case .dagMutated: return "dag_mutated"
        case .costUpdate: return "cost_update"
        case .executionComplete: return "execution_complete"
        case .humanGateWaiting: return "human_gate_waiting"
        case .gateResolved: return "gate_resolved"
        case .error: return "error"
        case .executionState: return "execution_state"
        case .snapshot: return "snapshot"
        case .commandResult: return "command_result"
        case .heartbeat: return "heartbeat"
        }
    }

    /// Whether the event is part of a run's durable history (has its own `seq`).
    public var isLogged: Bool {
        switch self {
        case .snapshot, .commandResult, .heartbeat: return false
        default: return true
        }
    }

    /// `node_state { node_id, status, attempt?, output?, metrics? }`: a node changed state, or a
    /// running node reported progress (same status, new `output`).
    public struct NodeState: Sendable, Hashable {
        public var nodeID: NodeID
        public var status: NodeStatus
        public var attempt: Int?
        public var output: JSONValue?
        public var metrics: NodeMetrics?
        public init(
            nodeID: NodeID, status: NodeStatus, attempt: Int? = nil, output: JSONValue? = nil,
            metrics: NodeMetrics? = nil
        ) {
            self.nodeID = nodeID
            self.status = status
            self.attempt = attempt
            self.output = output
            self.metrics = metrics
        }
    }

    /// `dag_mutated { mutation: { revision, source_node?, added_nodes, added_edges, removed_nodes } }`.
    /// Revision 1 (no `source_node`) carries the initial graph.
    public struct GraphMutation: Sendable, Hashable {
        public var revision: Int
        public var sourceNode: NodeID?
        public var addedNodes: [NodeInfo]
        public var addedEdges: [Edge]
        public var removedNodes: [NodeID]
        public init(
            revision: Int, sourceNode: NodeID? = nil, addedNodes: [NodeInfo], addedEdges: [Edge],
            removedNodes: [NodeID] = []
        ) {
            self.revision = revision
            self.sourceNode = sourceNode
            self.addedNodes = addedNodes
            self.addedEdges = addedEdges
            self.removedNodes = removedNodes
        }
    }

    /// A node as announced in `dag_mutated`: `{ id, kind, label? }`.
    public struct NodeInfo: Sendable, Hashable {
        public var id: NodeID
        public var kind: NodeKind
        public var label: String?
        public init(id: NodeID, kind: NodeKind, label: String? = nil) {
            self.id = id
            self.kind = kind
            self.label = label
        }
    }

    /// `cost_update { node_id?, spent, budget, remaining }`; `budget`/`remaining` are `null`
    /// for an unlimited run. `remaining` never goes below 0.
    public struct CostUpdate: Sendable, Hashable {
        public var nodeID: NodeID?
        public var spent: Double
        public var budget: Double?
        public var remaining: Double?
        public init(nodeID: NodeID? = nil, spent: Double, budget: Double?, remaining: Double?) {
            self.nodeID = nodeID
            self.spent = spent
            self.budget = budget
            self.remaining = remaining
        }
    }

    /// `execution_complete { status, results }`: the last logged event of a run; `results`
    /// maps completed node ids to their outputs, in node order.
    public struct ExecutionComplete: Sendable, Hashable {
        public var status: ExecutionStatus
        public var results: [JSONValue.Member]
        public init(status: ExecutionStatus, results: [JSONValue.Member]) {
            self.status = status
            self.results = results
        }
    }

    /// `human_gate_waiting { node_id, presentation }`.
    public struct GateWaiting: Sendable, Hashable {
        public var nodeID: NodeID
        public var presentation: JSONValue
        public init(nodeID: NodeID, presentation: JSONValue) {
            self.nodeID = nodeID
            self.presentation = presentation
        }
    }

    /// `gate_resolved { node_id, decision, feedback?, command_id? }`: the first decision won
    /// (`command_id` absent when the gate's timeout policy decided).
    public struct GateResolved: Sendable, Hashable {
        public var nodeID: NodeID
        public var decision: GateDecision
        public var feedback: String?
        public var commandID: String?
        public init(nodeID: NodeID, decision: GateDecision, feedback: String? = nil, commandID: String? = nil) {
            self.nodeID = nodeID
            self.decision = decision
            self.feedback = feedback
            self.commandID = commandID
        }
    }

    /// `error { node_id?, code, message }`. Codes: `attempt_failed`, `node_failed`,
    /// `budget_exceeded`, `gate_timeout`, `illegal_transition`, `interrupted`.
    public struct ErrorEvent: Sendable, Hashable {
        public var nodeID: NodeID?
        public var code: String
        public var message: String
        public init(nodeID: NodeID? = nil, code: String, message: String) {
            self.nodeID = nodeID
            self.code = code
            self.message = message
        }
    }

    /// `execution_state { status, reason? }` for non-terminal status changes.
    public struct ExecutionState: Sendable, Hashable {
        public var status: ExecutionStatus
        public var reason: String?
        public init(status: ExecutionStatus, reason: String? = nil) {
            self.status = status
            self.reason = reason
        }
    }
}
