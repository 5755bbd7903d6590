/// One event queued for the log: its envelope and canonical bytes.
struct LoggedEvent: Sendable {
    var envelope: EventEnvelope
    var bytes: [UInt8]
}
