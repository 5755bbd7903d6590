/// A server message as its canonical wire bytes (see ``ProtocolEncoder``), with the key that
/// identifies it: run, epoch and `seq`.
///
/// Guarantees: a logged event is encoded once, when the engine queues it to the log; the hub
/// hands those same bytes (the same buffer) to every encoded subscriber, and the log stores
/// exactly them, so a replay read from the log is byte-identical to the live event. Within one
/// epoch, (`dagID`, `seq`) names one logged event, except that a run id can be reused once
/// retention deleted the earlier run: compare `bytes` to tell two such events apart.
public struct EncodedEvent: Sendable, Hashable {
    public let dagID: String
    public let epoch: Int64
    public let seq: Int64
    /// Whether this is a logged event (not a `snapshot`, `command_result` or `heartbeat`
    /// session message, which shares the `seq` of the logged event it reflects).
    public let isLogged: Bool
    /// The canonical JSON of the envelope: valid UTF-8, one WebSocket text message.
    public let bytes: [UInt8]

    /// Encodes `envelope`, the one time it is encoded.
    public init(_ envelope: EventEnvelope) {
        self.init(
            dagID: envelope.dagID, epoch: envelope.epoch, seq: envelope.seq, isLogged: envelope.event.isLogged,
            bytes: ProtocolEncoder.encode(envelope))
    }

    /// Wraps bytes encoded earlier (read back from a log, this process's or another node's
    /// copy of it): they must be the canonical encoding of the envelope with this key.
    public init(dagID: String, epoch: Int64, seq: Int64, isLogged: Bool, bytes: [UInt8]) {
        self.dagID = dagID
        self.epoch = epoch
        self.seq = seq
        self.isLogged = isLogged
        self.bytes = bytes
    }
}
