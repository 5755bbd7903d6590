/// One event queued for the log: its envelope (for the hub's state) and its canonical bytes,
/// encoded once here; the log stores those bytes and the hub hands them to encoded subscribers.
struct LoggedEvent: Sendable {
    var envelope: EventEnvelope
    var encoded: EncodedEvent

    init(_ envelope: EventEnvelope) {
        self.envelope = envelope
        self.encoded = EncodedEvent(envelope)
    }

    var bytes: [UInt8] { encoded.bytes }
}
