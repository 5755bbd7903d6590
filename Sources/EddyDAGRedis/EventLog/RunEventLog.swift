public import EddyDAG

/// The reading side of a run's event log, whichever backend holds it: the events of a run
/// with `after < seq <= upTo`, in `seq` order. What a `since` replay needs.
///
/// Guarantee (of every conforming log): the events come in increasing `seq`, each once,
/// exactly the bytes that were logged (`EncodedEvent.bytes` decode to the same envelopes).
public protocol RunEventLog: Sendable {
    func encodedEvents(runID: String, after: Int64, upTo: Int64) async throws -> [EncodedEvent]
    func events(runID: String, after: Int64, upTo: Int64) async throws -> [EventEnvelope]
}

/// The embedded default: SQLite's reads are synchronous, which satisfies the protocol.
extension SQLiteEventLog: RunEventLog {}
