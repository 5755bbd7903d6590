/// One event queued for the log: its envelope (for the hub's state) and its canonical bytes,
/// encoded once here; the log stores those bytes and the hub hands them to encoded subscribers.
struct LoggedEvent: Sendable {
    var envelope: EventEnvelope
    var encoded: EncodedEvent

    init(_ envelope: EventEnvelope) {
        self.envelope = envelope
        self.encoded = EncodedEvent(envelope)
    }

    /// An event logged before, by this process or another (an adopted run's history): its
    /// bytes are kept as they were, so every copy of the log stays byte-identical.
    init(envelope: EventEnvelope, encoded: EncodedEvent) {
        self.envelope = envelope
        self.encoded = encoded
    }

    var bytes: [UInt8] { encoded.bytes }
}
