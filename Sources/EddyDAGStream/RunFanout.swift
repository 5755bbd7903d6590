import EddyDAG
import EddyLoop
import EddyRooms
import Synchronization

/// The dashboards of one run on one event loop, fed by a single engine subscription.
///
/// Guarantees:
/// - One subscription and one forwarding task per (run, loop), however many dashboards
///   watch: an event's logged bytes are framed (and compressed) once (``FrameCache``) and costs each dashboard one `offer`
///   into its outbox, with no task wake-up and no copy of the event.
/// - A dashboard joins atomically, on the loop: it gets a `snapshot` at the head (or, with a
///   `since` in the log's epoch, exactly the logged events after `since`), and from then on
///   exactly the events after what it got, in order: no gap, no duplicate.
/// - State is confined to the loop; the directory that finds a fan-out is the only lock.
final class RunFanout: @unchecked Sendable {
    /// One dashboard: its outbox, and the highest seq it already has (from its join or from
    /// a catch-up snapshot); the fan-out forwards it only later events.
    final class Member: @unchecked Sendable {
        let outbox: Outbox
        let covered: SeqFloor
        /// Whether (and with which window) it takes shared compressed frames; fixed at the handshake.
        let sharedWindowBits: Int?
        /// The member's index in `members` while it is joined.
        fileprivate var index = -1
        init(outbox: Outbox, covered: SeqFloor) {
            self.outbox = outbox
            self.covered = covered
            self.sharedWindowBits = outbox.socket.sharedCompressionWindowBits
        }
    }

    let runID: String
    let loop: EventLoop
    private let engine: DAGEngine
    private let frames: FrameCache
    private let onEmpty: @Sendable (RunFanout) -> Void
    /// An array, not a dictionary: the forwarding loop walks it once per event.
    private var members: [Member] = []
    private var forwarding: Task<Void, Never>?

    init(runID: String, loop: EventLoop, engine: DAGEngine, frames: FrameCache, onEmpty: @escaping @Sendable (RunFanout) -> Void) {
        self.runID = runID
        self.loop = loop
        self.engine = engine
        self.frames = frames
        self.onEmpty = onEmpty
    }

    /// Subscribes to the engine and starts forwarding. Loop thread, once.
    func start() throws(DAGEngineError) {
        let subscription = try engine.subscribeEncoded(runID: runID)
        forwarding = Task(executorPreference: loop) { [self] in
            for await event in subscription {
                guard event.isLogged else { continue } // the subscription's own start (a snapshot)
                let prepared = frames.prepared(forLogged: event)
                for member in members where event.seq > member.covered.value {
                    member.outbox.offer(frame: prepared.frame(forSharedWindowBits: member.sharedWindowBits))
                }
            }
            // The run finished (or the engine stopped): later joins start a new fan-out.
            onEmpty(self)
        }
    }

    /// Adds a dashboard: queues its snapshot or replay, then it receives live events. A replay
    /// longer than `maxReplay` events is replaced by a snapshot (it would only overflow the
    /// outbox, and reading it would hold the loop). Loop thread.
    func join(_ member: Member, resume: ResumePoint?, maxReplay: Int) throws(DAGEngineError) {
        let store = try engine.state(runID: runID)
        if let resume, resume.epoch == engine.epoch, resume.since <= store.seq, store.seq - resume.since <= Int64(maxReplay) {
            let since = resume.since
            // Exactly (since, head]: the hub has published up to its head, and every later
            // event reaches this fan-out. (Reading past the head would let a later catch-up
            // snapshot at the head leave a gap.)
            if since < store.seq {
                // The log's bytes as stored: framed like the live events, never decoded.
                for event in try engine.log.encodedEvents(runID: runID, after: since, upTo: store.seq) {
                    member.outbox.offer(frame: frames.prepared(forLogged: event).frame(forSharedWindowBits: member.sharedWindowBits))
                }
            }
            member.covered.raise(to: store.seq)
        } else {
            member.outbox.offer(frame: frames.prepare(store.snapshotEnvelope(ts: engine.log.currentTime)).frame(forSharedWindowBits: member.sharedWindowBits))
            member.covered.raise(to: store.seq)
        }
        member.index = members.count
        members.append(member)
    }

    /// Removes a dashboard; the last one out stops the subscription. Loop thread.
    func leave(_ member: Member) {
        guard member.index >= 0, member.index < members.count, members[member.index] === member else { return }
        let last = members.removeLast()
        if last !== member {
            members[member.index] = last
            last.index = member.index
        }
        member.index = -1
        if members.isEmpty {
            forwarding?.cancel()
            onEmpty(self)
        }
    }

    /// Stops a fan-out nobody joined (its first join failed). Loop thread.
    func abandonIfEmpty() {
        guard members.isEmpty else { return }
        forwarding?.cancel()
        onEmpty(self)
    }

    var memberCount: Int { members.count }
}

/// Finds the fan-out of a (run, loop), creating it on first use.
final class FanoutDirectory: Sendable {
    private struct Key: Hashable {
        let runID: String
        let loop: ObjectIdentifier
    }

    private let fanouts = Mutex<[Key: RunFanout]>([:])
    private let engine: DAGEngine
    private let frames: FrameCache

    init(engine: DAGEngine, frames: FrameCache) {
        self.engine = engine
        self.frames = frames
    }

    /// Joins `member` to the run's fan-out on `loop`. Loop thread.
    func join(_ member: RunFanout.Member, runID: String, loop: EventLoop, resume: ResumePoint?, maxReplay: Int) throws(DAGEngineError) -> RunFanout {
        let key = Key(runID: runID, loop: ObjectIdentifier(loop))
        let fanout: RunFanout
        if let existing = fanouts.withLock({ $0[key] }) {
            fanout = existing
        } else {
            fanout = RunFanout(runID: runID, loop: loop, engine: engine, frames: frames) { [weak self] done in
                self?.fanouts.withLock { fanouts in
                    if fanouts[key] === done { fanouts[key] = nil }
                }
            }
            try fanout.start()
            fanouts.withLock { $0[key] = fanout }
        }
        do {
            try fanout.join(member, resume: resume, maxReplay: maxReplay)
        } catch {
            fanout.abandonIfEmpty()
            throw error
        }
        return fanout
    }

    /// Fan-outs alive now (for tests and diagnostics).
    var count: Int { fanouts.withLock { $0.count } }
}
