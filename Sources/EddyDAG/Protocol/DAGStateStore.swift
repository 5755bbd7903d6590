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
        for (i, n) in state.nodes.enumerated() { nodeIndex[n.id] = i }
        edgeIndex = [:]
        for (i, e) in state.edges.enumerated() { edgeIndex[Edge(from: e.from, to: e.to)] = i }
    }

    @discardableResult
    public mutating func apply(_ envelope: EventEnvelope) -> ApplyOutcome {
        if case .snapshot(let s) = envelope.event {
            self = DAGStateStore(snapshot: s, dagID: envelope.dagID, epoch: envelope.epoch, seq: envelope.seq)
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
        case .nodeState(let e):
            guard let i = nodeIndex[e.nodeID] else { return }
            state.nodes[i].status = e.status
            if let a = e.attempt { state.nodes[i].attempt = a }
            if let o = e.output { state.nodes[i].output = o }
            if let m = e.metrics { state.nodes[i].metrics = m }
            if e.status != .waitingHuman { removeWaitingGate(e.nodeID) }
        case .edgeActive(let e):
            if let i = edgeIndex[e] { state.edges[i].active = true }
        case .dagMutated(let m):
            applyMutation(m)
        case .costUpdate(let c):
            state.cost = DAGSnapshot.Cost(spent: c.spent, budget: c.budget, remaining: c.remaining)
        case .executionComplete(let c):
            state.status = c.status
            state.results = c.results
        case .humanGateWaiting(let g):
            removeWaitingGate(g.nodeID)
            state.waitingGates.append(g)
        case .gateResolved(let g):
            removeWaitingGate(g.nodeID)
        case .executionState(let s):
            state.status = s.status
        case .error, .snapshot, .commandResult, .heartbeat:
            break
        }
    }

    private mutating func removeWaitingGate(_ id: NodeID) {
        if !state.waitingGates.isEmpty { state.waitingGates.removeAll { $0.nodeID == id } }
    }

    private mutating func applyMutation(_ m: ServerEvent.GraphMutation) {
        state.revision = m.revision
        for n in m.addedNodes where nodeIndex[n.id] == nil {
            nodeIndex[n.id] = state.nodes.count
            state.nodes.append(DAGSnapshot.Node(id: n.id, kind: n.kind, label: n.label))
        }
        for e in m.addedEdges where edgeIndex[e] == nil {
            edgeIndex[e] = state.edges.count
            state.edges.append(DAGSnapshot.EdgeState(from: e.from, to: e.to))
        }
        if !m.removedNodes.isEmpty {
            let removed = Set(m.removedNodes)
            for id in m.removedNodes {
                if let i = nodeIndex[id] { state.nodes[i].status = .removed }
                removeWaitingGate(id)
            }
            state.edges.removeAll { removed.contains($0.from) || removed.contains($0.to) }
            edgeIndex = [:]
            for (i, e) in state.edges.enumerated() { edgeIndex[Edge(from: e.from, to: e.to)] = i }
        }
    }
}
