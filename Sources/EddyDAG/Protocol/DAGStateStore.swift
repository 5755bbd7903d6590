/// A client-side (and server-side) reducer that rebuilds a run's state from its events.
///
/// Sans-IO value type: feed it envelopes with ``apply(_:)`` in order, or start from a
/// `snapshot`. Guarantees:
/// - logged events must arrive with `seq == self.seq + 1`; older ones are ignored as
///   duplicates (``ApplyOutcome/duplicate``), newer ones are refused as a gap
///   (``ApplyOutcome/gap(expected:received:)``) and change nothing: the client must resync;
/// - a `snapshot` replaces the whole state and sets `seq` to the snapshot's `seq`;
/// - session messages (`command_result`, `heartbeat`) never change the state;
/// - `DAGStateStore(snapshot: s at seq N)` + events after N == the store that applied 1...end
///   (tested over randomised runs).
public struct DAGStateStore: Sendable, Hashable {
    /// What ``apply(_:)`` did with an envelope.
    public enum ApplyOutcome: Sendable, Hashable {
        case applied
        case duplicate
        case gap(expected: Int64, received: Int64)
        case ignored
    }

    public private(set) var dagID: String
    public private(set) var epoch: Int64
    /// The last logged event reflected (0 before any event).
    public private(set) var seq: Int64
    public private(set) var state: DAGSnapshot
    private var nodeIndex: [NodeID: Int] = [:]
    private var edgeIndex: [Edge: Int] = [:]

    public init(dagID: String, epoch: Int64) {
        self.dagID = dagID
        self.epoch = epoch
        self.seq = 0
        self.state = DAGSnapshot()
    }

    public init(snapshot: DAGSnapshot, dagID: String, epoch: Int64, seq: Int64) {
        self.dagID = dagID
        self.epoch = epoch
        self.seq = seq
        self.state = snapshot
        reindex()
    }

    /// Whether the run has ended (`execution_complete` applied).
    public var isFinished: Bool { state.results != nil }

    /// The current state as a `snapshot` envelope stamped `ts`.
    public func snapshotEnvelope(ts: Int64) -> EventEnvelope {
        EventEnvelope(dagID: dagID, epoch: epoch, seq: seq, ts: ts, event: .snapshot(state))
    }

    public func node(_ id: NodeID) -> DAGSnapshot.Node? {
        nodeIndex[id].map { state.nodes[$0] }
    }

    private mutating func reindex() {
        nodeIndex = [:]
        for (index, node) in state.nodes.enumerated() { nodeIndex[node.id] = index }
        edgeIndex = [:]
        for (index, edge) in state.edges.enumerated() { edgeIndex[Edge(from: edge.from, to: edge.to)] = index }
    }

    @discardableResult
    public mutating func apply(_ envelope: EventEnvelope) -> ApplyOutcome {
        if case .snapshot(let snapshot) = envelope.event {
            self = DAGStateStore(snapshot: snapshot, dagID: envelope.dagID, epoch: envelope.epoch, seq: envelope.seq)
            return .applied
        }
        guard envelope.event.isLogged else { return .ignored }
        if envelope.seq <= seq { return .duplicate }
        guard envelope.seq == seq + 1 else { return .gap(expected: seq + 1, received: envelope.seq) }
        seq = envelope.seq
        reduce(envelope.event)
        return .applied
    }

    private mutating func reduce(_ event: ServerEvent) {
        switch event {
        case .nodeState(let nodeState):
            guard let index = nodeIndex[nodeState.nodeID] else { return }
            state.nodes[index].status = nodeState.status
            if let attempt = nodeState.attempt { state.nodes[index].attempt = attempt }
            if let output = nodeState.output { state.nodes[index].output = output }
            if let metrics = nodeState.metrics { state.nodes[index].metrics = metrics }
            if nodeState.status != .waitingHuman { removeWaitingGate(nodeState.nodeID) }
        case .edgeActive(let edge):
            if let index = edgeIndex[edge] { state.edges[index].active = true }
        case .dagMutated(let mutation):
            applyMutation(mutation)
        case .costUpdate(let update):
            state.cost = DAGSnapshot.Cost(spent: update.spent, budget: update.budget, remaining: update.remaining)
        case .executionComplete(let completion):
            state.status = completion.status
            state.results = completion.results
        case .humanGateWaiting(let gate):
            removeWaitingGate(gate.nodeID)
            state.waitingGates.append(gate)
        case .gateResolved(let resolution):
            removeWaitingGate(resolution.nodeID)
        case .executionState(let change):
            state.status = change.status
        case .error, .snapshot, .commandResult, .heartbeat:
            break
        }
    }

    private mutating func removeWaitingGate(_ id: NodeID) {
        if !state.waitingGates.isEmpty { state.waitingGates.removeAll { $0.nodeID == id } }
    }

    private mutating func applyMutation(_ mutation: ServerEvent.GraphMutation) {
        state.revision = mutation.revision
        for node in mutation.addedNodes where nodeIndex[node.id] == nil {
            nodeIndex[node.id] = state.nodes.count
            state.nodes.append(DAGSnapshot.Node(id: node.id, kind: node.kind, label: node.label))
        }
        for edge in mutation.addedEdges where edgeIndex[edge] == nil {
            edgeIndex[edge] = state.edges.count
            state.edges.append(DAGSnapshot.EdgeState(from: edge.from, to: edge.to))
        }
        if !mutation.removedNodes.isEmpty {
            let removed = Set(mutation.removedNodes)
            for id in mutation.removedNodes {
                if let index = nodeIndex[id] { state.nodes[index].status = .removed }
                removeWaitingGate(id)
            }
            state.edges.removeAll { removed.contains($0.from) || removed.contains($0.to) }
            edgeIndex = [:]
            for (index, edge) in state.edges.enumerated() { edgeIndex[Edge(from: edge.from, to: edge.to)] = index }
        }
    }
}
