import EddyDAG
import EddyWebSocket
import Synchronization

/// The WebSocket frames of each run's recent logged events, shared by every dashboard of
/// the run: an event is encoded, framed and compressed once however many dashboards watch
/// it. The compressed frame is made without context takeover, so it suits every dashboard
/// that negotiated `server_no_context_takeover` (the gateway asks for it); the others get
/// the uncompressed frame (`PreparedMessage.frame(for:)`).
///
/// Guarantees: a frame is returned only for an event equal to the one it was made from
/// (compared whole, so a run id reused after retention deleted the first run cannot hit);
/// anything else is framed afresh. With one fan-out per (run, loop), the cache is consulted
/// once per event and loop, so the comparison is cheap. Memory is bounded: `depth` frames
/// per run, for at most `maxRuns` runs (then it starts over).
final class FrameCache: Sendable {
    private struct Slot {
        var envelope: EventEnvelope
        var frame: PreparedMessage
    }

    private let depth: Int
    private let maxRuns: Int
    private let runs = Mutex<[String: [Slot?]]>([:])
    private let compressor: BroadcastCompressor?

    init(depth: Int = 64, maxRuns: Int = 16, compressor: BroadcastCompressor? = nil) {
        self.depth = max(1, depth)
        self.maxRuns = max(1, maxRuns)
        self.compressor = compressor
    }

    /// Frames any envelope (a snapshot, a replayed event) without caching it.
    func prepare(_ envelope: EventEnvelope) -> PreparedMessage {
        PreparedMessage(.text(String(decoding: envelope.jsonBytes, as: UTF8.self)), compressor: compressor)
    }

    /// The frame of a logged event (never a snapshot or another session message: those
    /// share a `seq` with the logged event they reflect).
    func prepared(forLogged envelope: EventEnvelope) -> PreparedMessage {
        let index = Int(envelope.seq.magnitude % UInt64(depth))
        let cached = runs.withLock { runs -> PreparedMessage? in
            guard let slot = runs[envelope.dagID]?[index], slot.envelope == envelope else { return nil }
            return slot.frame
        }
        if let cached { return cached }
        let frame = prepare(envelope)
        runs.withLock { runs in
            if runs[envelope.dagID] == nil && runs.count >= maxRuns { runs.removeAll() }
            runs[envelope.dagID, default: Array(repeating: nil, count: depth)][index] = Slot(envelope: envelope, frame: frame)
        }
        return frame
    }
}
