/// A directed edge: `to` depends on `from`.
public struct Edge: Sendable, Hashable {
    public var from: NodeID
    public var to: NodeID
    public init(from: NodeID, to: NodeID) {
        self.from = from
        self.to = to
    }
}
