/// The answer to one client command: `command_result { command_id, status, reason? }`, `seq` in the envelope.
///
/// Guarantees: `accepted` means the command took effect and `seq` is the first event it
/// produced; `rejected` (with a reason) means it could not apply in the current state;
/// `duplicate` means the `command_id` was seen before (nothing applied again); `conflict` means
/// another decision already resolved the gate.
public struct CommandResult: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable {
        case accepted
        case rejected
        case duplicate
        case conflict
    }

    public var commandID: String
    public var status: Status
    public var reason: String?
    /// For `accepted`, the seq of the first event the command produced.
    public var seq: Int64?

    public init(commandID: String, status: Status, reason: String? = nil, seq: Int64? = nil) {
        self.commandID = commandID
        self.status = status
        self.reason = reason
        self.seq = seq
    }
}
