/// What a task reported about its work: `{ tokens?, cost?, duration_ms? }`.
///
/// Guarantees: values accumulate over a node's cost reports; `duration_ms` is the wall time of
/// the attempt that completed, measured by the engine's clock.
public struct NodeMetrics: Sendable, Hashable {
    public var tokens: Int64?
    public var cost: Double?
    public var durationMs: Int64?
    public init(tokens: Int64? = nil, cost: Double? = nil, durationMs: Int64? = nil) {
        self.tokens = tokens
        self.cost = cost
        self.durationMs = durationMs
    }

    var isEmpty: Bool { tokens == nil && cost == nil && durationMs == nil }
}
