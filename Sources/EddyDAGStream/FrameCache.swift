import EddyDAG
import EddyWebSocket
import Synchronization

/// The WebSocket frames of each run's recent logged events, shared by every dashboard of
/// the run: an event is encoded and framed once however many dashboards watch it.
///
/// Guarantees: a frame is returned only for the exact event it was made from (same run,
/// epoch and seq; logged events are immutable); anything else is framed afresh. Memory is
/// bounded: `depth` frames per run, for at most `maxRuns` runs (then it starts over).
final class FrameCache: Sendable {
    private struct Slot {
        var epoch: Int64
        var seq: Int64
        var frame: [UInt8]
    }

    private let depth: Int
    private let maxRuns: Int
    private let runs = Mutex<[String: [Slot?]]>([:])

    init(depth: Int = 256, maxRuns: Int = 64) {
        self.depth = max(1, depth)
        self.maxRuns = max(1, maxRuns)
    }

    /// The frame of a logged event (never a snapshot or another session message: those
    /// share a `seq` with the logged event they reflect).
    func frame(forLogged envelope: EventEnvelope) -> [UInt8] {
        let index = Int(envelope.seq.magnitude % UInt64(depth))
        let cached = runs.withLock { runs -> [UInt8]? in
            guard let slot = runs[envelope.dagID]?[index], slot.seq == envelope.seq, slot.epoch == envelope.epoch else { return nil }
            return slot.frame
        }
        if let cached { return cached }
        let frame = DAGStreamGateway.frame(envelope)
        runs.withLock { runs in
            if runs[envelope.dagID] == nil && runs.count >= maxRuns { runs.removeAll() }
            runs[envelope.dagID, default: Array(repeating: nil, count: depth)][index] = Slot(epoch: envelope.epoch, seq: envelope.seq, frame: frame)
        }
        return frame
    }
}
