import EddyDAG
import EddyLoop
import EddyRooms
import EddyWebSocket
import Logging
import EddyShared

/// Publishes a run that another node owns into its room while dashboards here watch it: the
/// run's log read from `RemoteRuns.follow` (its owner's mirror), applied to a `DAGStateStore`
/// (the reducer the engine's hub uses), each event published at its `seq` once the store
/// holds it, plus a `heartbeat` every interval.
///
/// Guarantees:
/// - The store and the window of recent events are updated under one lock before the event
///   is published, so a dashboard that joins at the store's head (`bringToHead`) and then
///   takes the room's later positions gets every event once, with no gap.
/// - `waitUntilCaughtUp()` returns true once the store holds everything that was logged when
///   the feed started (false if reading the log failed first).
/// - A `since` within the last `window` events is replayed from the window (the owner's
///   bytes as stored); further back, or in another epoch, the dashboard gets a snapshot.
final class RemoteRunFeed: RoomFeed {
    private struct State {
        var store: DAGStateStore?
        var recent: [EncodedEvent] = []
        var caughtUp = false
        var ended = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    let runID: String
    let owner: String
    /// The state, in a class of its own so the heartbeat can hold it before `self` exists.
    private final class Box: Sendable {
        let state = Mutex(State())
    }
    private let box = Box()
    private let window: Int
    private let running = FeedLiveness()
    private let forwarding = Mutex<Task<Void, Never>?>(nil)
    private let heartbeat: ScheduledWork

    init(runID: String, owner: String, room: String, source: any RemoteRuns, frames: FrameCache, rooms: RoomRegistry,
         window: Int, heartbeatInterval: Duration, logger: Logger, now: @escaping @Sendable () -> Int64, on loop: EventLoop) {
        self.runID = runID
        self.owner = owner
        self.window = max(1, window)
        let box = self.box
        heartbeat = loop.scheduleRepeating(every: heartbeatInterval) {
            guard let store = box.state.withLock({ $0.store }) else { return }
            let beat = EventEnvelope(dagID: runID, epoch: store.epoch, seq: store.seq, ts: now(), event: .heartbeat)
            rooms.publish(PreparedMessage(utf8Text: beat.jsonBytes), to: room)
        }
        let task = Task(executorPreference: loop) { [self] in
            do {
                for try await update in source.follow(runID: runID) {
                    switch update {
                    case .event(let encoded, let envelope):
                        guard try self.apply(encoded, envelope) else { continue }
                        rooms.publish(frames.prepared(forLogged: encoded), to: room, position: encoded.seq)
                    case .caughtUp:
                        self.finishWaiting(caughtUp: true)
                    }
                }
            } catch is CancellationError {
            } catch {
                logger.error("remote run: reading its log failed", metadata: ["run_id": "\(runID)", "owner": "\(owner)",
                                                                              "error": "\(error)"])
            }
            self.finishWaiting(caughtUp: false)
            self.running.end()
        }
        forwarding.withLock { $0 = task }
    }

    /// Applies a logged event; false for one already applied. Throws on a gap (a log that skips a `seq`).
    private func apply(_ encoded: EncodedEvent, _ envelope: EventEnvelope) throws -> Bool {
        let window = self.window
        return try box.state.withLock { state in
            var store = state.store ?? DAGStateStore(dagID: runID, epoch: envelope.epoch)
            switch store.apply(envelope) {
            case .applied:
                state.store = store
                state.recent.append(encoded)
                if state.recent.count >= 2 * window { state.recent.removeFirst(state.recent.count - window) }
                return true
            case .duplicate, .ignored:
                return false
            case .gap(let expected, let received):
                throw RemoteRunError.gap(expected: expected, received: received)
            }
        }
    }

    private func finishWaiting(caughtUp: Bool) {
        let waiters = box.state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            if caughtUp { state.caughtUp = true } else { state.ended = true }
            defer { state.waiters = [] }
            return state.waiters
        }
        let ready = box.state.withLock { $0.caughtUp && $0.store != nil }
        for waiter in waiters { waiter.resume(returning: ready) }
    }

    /// Waits until the store holds the run's log as it was when the feed started.
    func waitUntilCaughtUp() async -> Bool {
        await withCheckedContinuation { continuation in
            let answer = box.state.withLock { state -> Bool? in
                if state.caughtUp || state.ended { return state.caughtUp && state.store != nil }
                state.waiters.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// The run's current state as a `snapshot` stamped `ts`, nil before its first event.
    func snapshot(ts: Int64) -> EventEnvelope? {
        box.state.withLock { $0.store }?.snapshotEnvelope(ts: ts)
    }

    /// The head's `seq` and epoch (0, 0 before the first event).
    var head: (seq: Int64, epoch: Int64) {
        box.state.withLock { state in (state.store?.seq ?? 0, state.store?.epoch ?? 0) }
    }

    /// What brings a joining dashboard to the head: the events after `since` from the window,
    /// or a snapshot; and the head's `seq`. nil before the first event.
    func start(after resume: ResumePoint?, maxReplay: Int, ts: Int64) -> (replay: [EncodedEvent]?, snapshot: EventEnvelope?, head: Int64)? {
        box.state.withLock { state in
            guard let store = state.store else { return nil }
            if let resume, resume.epoch == store.epoch, resume.since <= store.seq, store.seq - resume.since <= Int64(maxReplay),
               resume.since + 1 >= (state.recent.first?.seq ?? store.seq + 1) {
                return (state.recent.filter { $0.seq > resume.since }, nil, store.seq)
            }
            return (nil, store.snapshotEnvelope(ts: ts), store.seq)
        }
    }

    var isRunning: Bool { running.isLive }

    func stop() {
        forwarding.withLock { $0 }?.cancel()
        heartbeat.cancel()
    }
}

/// Why a remote run's feed stopped.
enum RemoteRunError: Error, CustomStringConvertible {
    case gap(expected: Int64, received: Int64)

    var description: String {
        switch self {
        case .gap(let expected, let received): "the log skips from seq \(expected - 1) to \(received)"
        }
    }
}
