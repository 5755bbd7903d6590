/// The kind of a node as it appears on the wire (`"task"` or `"human_gate"`).
public enum NodeKind: String, Sendable, Hashable, CaseIterable {
    case task
    case humanGate = "human_gate"
}
