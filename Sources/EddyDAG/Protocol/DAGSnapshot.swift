/// The whole current state of a run, sent as `snapshot` when a client cannot be served by
/// replay: `{ status, revision, nodes, edges, cost, waiting_gates, results? }`; the envelope's
/// `seq` is the last event it reflects.
///
/// Guarantees: ``DAGStateStore/init(snapshot:dagID:epoch:seq:)`` followed by the events after
/// `seq` yields exactly the state of a store that applied every event from the start.
public struct DAGSnapshot: Sendable, Hashable {
    /// One node: `{ id, kind, label?, status, attempt, output?, metrics? }`.
    public struct Node: Sendable, Hashable {
        public var id: NodeID
        public var kind: NodeKind
        public var label: String?
        public var status: NodeStatus
        public var attempt: Int
        public var output: JSONValue?
        public var metrics: NodeMetrics?
        public init(
            id: NodeID, kind: NodeKind, label: String? = nil, status: NodeStatus = .pending, attempt: Int = 0,
            output: JSONValue? = nil, metrics: NodeMetrics? = nil
        ) {
            self.id = id
            self.kind = kind
            self.label = label
            self.status = status
            self.attempt = attempt
            self.output = output
            self.metrics = metrics
        }
    }

    /// One edge: `{ from, to, active }`; `active` once `from` completed and fed `to`.
    public struct EdgeState: Sendable, Hashable {
        public var from: NodeID
        public var to: NodeID
        public var active: Bool
        public init(from: NodeID, to: NodeID, active: Bool = false) {
            self.from = from
            self.to = to
            self.active = active
        }
    }

    /// `{ spent, budget, remaining }` (`budget`/`remaining` `null` when unlimited).
    public struct Cost: Sendable, Hashable {
        public var spent: Double
        public var budget: Double?
        public var remaining: Double?
        public init(spent: Double = 0, budget: Double? = nil, remaining: Double? = nil) {
            self.spent = spent
            self.budget = budget
            self.remaining = remaining
        }
    }

    public var status: ExecutionStatus
    public var revision: Int
    public var nodes: [Node]
    public var edges: [EdgeState]
    public var cost: Cost
    public var waitingGates: [ServerEvent.GateWaiting]
    /// Present once the run completed (`execution_complete` seen).
    public var results: [JSONValue.Member]?

    public init(
        status: ExecutionStatus = .running, revision: Int = 0, nodes: [Node] = [], edges: [EdgeState] = [],
        cost: Cost = Cost(), waitingGates: [ServerEvent.GateWaiting] = [], results: [JSONValue.Member]? = nil
    ) {
        self.status = status
        self.revision = revision
        self.nodes = nodes
        self.edges = edges
        self.cost = cost
        self.waitingGates = waitingGates
        self.results = results
    }
}
