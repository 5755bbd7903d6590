/// The envelope around every server message: `{ "v": 1, "type", "dag_id", "epoch", "seq", "ts", ...payload }`.
///
/// Guarantees: for logged events, `seq` starts at 1 and rises by exactly one per event of a
/// run; `epoch` is the event log's identity and changes only when its history was lost (a new
/// database); `ts` is milliseconds since the Unix epoch. Session messages carry the `seq` of
/// the last logged event they reflect (a `command_result` for an accepted command carries the
/// `seq` of the first event the command produced).
public struct EventEnvelope: Sendable, Hashable {
    /// Protocol version; this implementation speaks version 1.
    public static let protocolVersion = 1

    public var dagID: String
    public var epoch: Int64
    public var seq: Int64
    public var ts: Int64
    public var event: ServerEvent

    public init(dagID: String, epoch: Int64, seq: Int64, ts: Int64, event: ServerEvent) {
        self.dagID = dagID
        self.epoch = epoch
        self.seq = seq
        self.ts = ts
        self.event = event
    }

    /// The canonical wire bytes (see ``ProtocolEncoder``).
    public var jsonBytes: [UInt8] { ProtocolEncoder.encode(self) }
}
