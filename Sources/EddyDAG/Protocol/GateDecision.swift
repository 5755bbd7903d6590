/// A reviewer's decision on a human gate.
public enum GateDecision: String, Sendable, Hashable, CaseIterable {
    case approve
    case reject
    case modify
}
