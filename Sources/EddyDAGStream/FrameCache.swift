import EddyDAG
import EddyWebSocket
import EddyShared

/// The WebSocket frames of each run's recent logged events, shared by every dashboard of
/// the run: an event's bytes (encoded once, when the engine logged it) are framed and
/// compressed once however many dashboards watch it. The compressed frame is made without
/// context takeover, so it suits every dashboard that negotiated `server_no_context_takeover`
/// (the gateway asks for it); the others get the uncompressed frame
/// (`PreparedMessage.frame(for:)`).
///
/// Guarantees: a frame is the framing of exactly the bytes it is returned for. The cache is
/// keyed by (run, epoch, `seq`); a hit also needs the same bytes, which costs nothing for a
/// live event (the hub hands every fan-out the same buffer, and equal buffers compare by
/// identity) and guards against a run id reused after retention deleted the first run.
/// A replay from the log (a different buffer with the same bytes) hits after one comparison.
/// Memory is bounded: `depth` frames per run, for at most `maxRuns` runs (then it starts over).
final class FrameCache: Sendable {
    private struct RunKey: Hashable {
        let dagID: String
        let epoch: Int64
    }

    private struct Slot {
        var seq: Int64
        var bytes: [UInt8]
        var frame: PreparedMessage
    }

    private let depth: Int
    private let maxRuns: Int
    private let runs = Mutex<[RunKey: [Slot?]]>([:])
    private let compressor: BroadcastCompressor?

    init(depth: Int = 64, maxRuns: Int = 16, compressor: BroadcastCompressor? = nil) {
        self.depth = max(1, depth)
        self.maxRuns = max(1, maxRuns)
        self.compressor = compressor
    }

    /// Frames a session message (a snapshot) without caching it: encoded here, once.
    func prepare(_ envelope: EventEnvelope) -> PreparedMessage {
        prepare(EncodedEvent(envelope))
    }

    /// Frames encoded bytes as they are, without caching them.
    func prepare(_ event: EncodedEvent) -> PreparedMessage {
        PreparedMessage(utf8Text: event.bytes, compressor: compressor)
    }

    /// The frame of a logged event, live or replayed (never a snapshot or another session
    /// message: those share a `seq` with the logged event they reflect).
    func prepared(forLogged event: EncodedEvent) -> PreparedMessage {
        let key = RunKey(dagID: event.dagID, epoch: event.epoch)
        let index = Int(event.seq.magnitude % UInt64(depth))
        let cached = runs.withLock { runs -> PreparedMessage? in
            guard let slot = runs[key]?[index], slot.seq == event.seq, slot.bytes == event.bytes else { return nil }
            return slot.frame
        }
        if let cached { return cached }
        let frame = prepare(event)
        runs.withLock { runs in
            if runs[key] == nil && runs.count >= maxRuns { runs.removeAll() }
            runs[key, default: Array(repeating: nil, count: depth)][index] = Slot(seq: event.seq, bytes: event.bytes, frame: frame)
        }
        return frame
    }
}
