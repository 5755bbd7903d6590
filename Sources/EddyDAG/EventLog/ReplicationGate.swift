import EddyShared

/// Sits between the SQLite log and the hub when the engine has a log of record
/// (``EventReplica``): hands every committed event to the replica, and publishes a run's
/// events to the hub only once the replica has stored them.
///
/// Guarantees:
/// - the hub receives each run's events in `seq` order, each once, and only events the replica
///   reported stored, except for runs the replica refused (another node owns them now: their
///   events are this node's own record and are published as they commit);
/// - ``wait(runID:through:timeout:)`` returns `.stored` once every event of the run up to
///   `through` is stored, `.timedOut` after `timeout`, or `.refused` when it never will be
///   (the run refused, or the log stopped); every waiter is answered exactly once.
///
/// Locking: one `Mutex` over all state; publication to the hub happens under it (so two
/// threads never publish one run's events out of order). The hub never calls back into the
/// gate, so the order gate → hub cannot invert.
final class ReplicationGate: CommittedEventSink, Sendable {
    enum Outcome: Sendable, Equatable { case stored, timedOut, refused }

    private struct Waiter {
        var id: UInt64
        var through: Int64
        var continuation: CheckedContinuation<Outcome, Never>
        var timer: Task<Void, Never>?

        init(_ id: UInt64, _ through: Int64, _ continuation: CheckedContinuation<Outcome, Never>, _ timer: Task<Void, Never>?) {
            (self.id, self.through, self.continuation, self.timer) = (id, through, continuation, timer)
        }

        func resume(_ outcome: Outcome) {
            timer?.cancel()
            continuation.resume(returning: outcome)
        }
    }

    private struct Run {
        var stored: Int64 = 0
        var refused = false
        /// The run's `execution_complete` was published.
        var ended = false
        /// Committed, not yet stored, in `seq` order.
        var pending: [LoggedEvent] = []
        var waiters: [Waiter] = []
    }

    private struct State {
        var runs: [String: Run] = [:]
        var stopped = false
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    private let hub: EventHub
    let replica: any EventReplica
    let policy: ReplicationPolicy

    init(hub: EventHub, replica: any EventReplica, policy: ReplicationPolicy) {
        self.hub = hub
        self.replica = replica
        self.policy = policy
    }

    // MARK: From the log's writer thread

    func eventsCommitted(_ events: [LoggedEvent]) {
        var toReplicate: [EncodedEvent] = []
        toReplicate.reserveCapacity(events.count)
        state.withLock { state in
            var now: [LoggedEvent] = []
            for event in events {
                let runID = event.envelope.dagID
                // Taken out of the table while it changes, so appending to `pending` never
                // copies it (the table would otherwise still share its storage).
                var run = state.runs.removeValue(forKey: runID) ?? Run()
                if run.refused || (run.pending.isEmpty && event.envelope.seq <= run.stored) {
                    now.append(event)
                } else {
                    run.pending.append(event)
                }
                if !run.refused { toReplicate.append(event.encoded) }
                // A run's entry goes once its last event is published (nothing follows it).
                state.runs[runID] = run.pending.isEmpty && event.isEnd ? nil : run
            }
            if !now.isEmpty { hub.eventsCommitted(now) }
        }
        if !toReplicate.isEmpty { replica.replicate(toReplicate) }
    }

    func runsDeleted(_ runIDs: [String]) {
        let waiters = state.withLock { state in
            var waiters: [Waiter] = []
            for runID in runIDs {
                waiters += state.runs.removeValue(forKey: runID)?.waiters ?? []
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(.refused) }
        hub.runsDeleted(runIDs)
    }

    func logStopped() {
        let waiters = state.withLock { state in
            state.stopped = true
            let waiters = state.runs.values.flatMap(\.waiters)
            for runID in state.runs.keys { state.runs[runID]?.waiters = [] }
            return waiters
        }
        for waiter in waiters { waiter.resume(.refused) }
        hub.logStopped()
    }

    // MARK: From the replica

    /// Every event of `runID` up to `through` is stored: publish them, answer the waiters.
    func stored(runID: String, through seq: Int64) {
        let ready = state.withLock { state -> [Waiter] in
            // Taken out while it changes (see `eventsCommitted`).
            guard var run = state.runs.removeValue(forKey: runID) else { return [] }
            guard !run.refused, seq > run.stored else {
                state.runs[runID] = run
                return []
            }
            run.stored = seq
            let count = run.pending.prefix { $0.envelope.seq <= seq }.count
            if count > 0 {
                hub.eventsCommitted(Array(run.pending.prefix(count)))
                run.ended = run.pending[count - 1].isEnd
                run.pending.removeFirst(count)
            }
            let ready = run.waiters.filter { $0.through <= seq }
            run.waiters.removeAll { $0.through <= seq }
            let ended = run.ended && run.waiters.isEmpty
            state.runs[runID] = ended ? nil : run
            return ready
        }
        for waiter in ready { waiter.resume(.stored) }
    }

    /// The replica will never store `runID` again: what it holds and what follows is published
    /// as committed here, and every waiter hears `.refused`.
    func refused(runID: String) {
        let waiters = state.withLock { state -> [Waiter] in
            var run = state.runs[runID, default: Run()]
            guard !run.refused else { return [] }
            run.refused = true
            if !run.pending.isEmpty { hub.eventsCommitted(run.pending) }
            run.pending = []
            let waiters = run.waiters
            run.waiters = []
            state.runs[runID] = run
            return waiters
        }
        for waiter in waiters { waiter.resume(.refused) }
    }

    // MARK: For runs

    /// The highest `seq` of `runID` the replica stored (0 before any).
    func storedSeq(runID: String) -> Int64 {
        state.withLock { $0.runs[runID]?.stored ?? 0 }
    }

    /// Waits until the replica stored `runID`'s events up to `through` (see the type).
    func wait(runID: String, through seq: Int64, timeout: Duration,
              sleep: @escaping @Sendable (Duration) async throws -> Void) async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            // Either the answer at once, or the id of the registered waiter.
            let registered = state.withLock { state -> (answer: Outcome?, id: UInt64) in
                if state.stopped { return (.refused, 0) }
                var run = state.runs[runID, default: Run()]
                if run.refused { return (.refused, 0) }
                if run.stored >= seq { return (.stored, 0) }
                state.nextWaiter += 1
                run.waiters.append(Waiter(state.nextWaiter, seq, continuation, nil))
                state.runs[runID] = run
                return (nil, state.nextWaiter)
            }
            switch registered {
            case (let answer?, _):
                continuation.resume(returning: answer)
            case (nil, let id):
                // Armed after the waiter is registered, so it cannot fire before; if the waiter is
                // answered before the timer is stored, the timer finds nothing when it fires.
                let timer = Task {
                    guard (try? await sleep(timeout)) != nil else { return }
                    self.answer(runID: runID, waiter: id, with: .timedOut)
                }
                state.withLock { state in
                    if let index = state.runs[runID]?.waiters.firstIndex(where: { $0.id == id }) {
                        state.runs[runID]?.waiters[index].timer = timer
                    }
                }
            }
        }
    }

    /// Answers one waiter (the timer's way), unless it was answered already.
    private func answer(runID: String, waiter id: UInt64, with outcome: Outcome) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.runs[runID]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.runs[runID]?.waiters.remove(at: index)
        }
        // The timer itself: cancelling it (it is done sleeping) is harmless.
        waiter?.resume(outcome)
    }
}

extension LoggedEvent {
    /// Whether this is the run's last event (`execution_complete`).
    var isEnd: Bool {
        if case .executionComplete = envelope.event { return true }
        return false
    }
}
