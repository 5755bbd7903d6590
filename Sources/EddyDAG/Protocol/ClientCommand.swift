/// A command from a client: `{ "type", "command_id", ...payload }` (`"v": 1` optional).
///
/// Guarantees: `commandID` is the client's idempotency key; the engine answers every command
/// exactly once with a ``CommandResult`` and answers a repeated `commandID` with `duplicate`
/// without applying it again.
public struct ClientCommand: Sendable, Hashable {
    /// What the command asks for.
    public enum Action: Sendable, Hashable {
        case humanDecision(HumanDecision)
        case pauseExecution
        case resumeExecution
        case cancelExecution

        public var typeName: String {
            switch self {
            case .humanDecision: return "human_decision"
            case .pauseExecution: return "pause_execution"
            case .resumeExecution: return "resume_execution"
            case .cancelExecution: return "cancel_execution"
            }
        }
    }

    /// `human_decision { node_id, decision, feedback? }`.
    public struct HumanDecision: Sendable, Hashable {
        public var nodeID: NodeID
        public var decision: GateDecision
        public var feedback: String?
        public init(nodeID: NodeID, decision: GateDecision, feedback: String? = nil) {
            self.nodeID = nodeID
            self.decision = decision
            self.feedback = feedback
        }
    }

    public var commandID: String
    public var action: Action

    public init(commandID: String, action: Action) {
        self.commandID = commandID
        self.action = action
    }

    /// The canonical wire bytes (see ``ProtocolEncoder``).
    public var jsonBytes: [UInt8] { ProtocolEncoder.encode(self) }
}
