import EddyShared

/// Publication of committed events to subscribers, and the live state of every known run.
///
/// Guarantees:
/// - subscribers only ever receive events the log has committed, in `seq` order;
/// - ``subscribe(runID:since:epoch:)`` is atomic with publication (one mutex): the replayed
///   events (`since`, head] and the live events that follow form one gap-free, duplicate-free
///   sequence; if the client's `epoch` differs or `since` is absent, the sequence starts with
///   one `snapshot` at the head instead;
/// - a subscription to a finished run ends after its last event;
/// - ``subscribeLobby()`` is atomic with publication too: the listing it starts with and the
///   `run_started` / `run_finished` / `run_removed` that follow report every run exactly once
///   in each state.
///
/// Locking: all mutable state is a ``State`` value behind one `Mutex`, and every operation is
/// one `withLock` around a mutating method of that value. While it is held the hub only hands
/// elements to subscription buffers (their own mutex, never the other way round), resumes
/// continuations (which schedules, never runs, their tasks) and reads the log (its reader
/// mutex); nothing done under it calls back into the hub, so it need not be recursive. A
/// subscription's termination handler, which does take it, runs from the subscription's
/// cancellation, outside every lock.
///
/// - Note: subscriptions buffer without bound (see ``HubSubscription``); bounded policies
///   belong to the fan-out layer (rooms).
/// - Note: live runs stay in memory; of the finished ones (finished here or loaded from the
///   log for a client), only the `maxCachedFinishedRuns` most recently used that nobody is
///   subscribed to or waiting for; the others are reloaded from the log when asked for, so a
///   server that runs for weeks does not keep every run it ever served.
final class EventHub: CommittedEventSink, Sendable {
    private let state: Mutex<State>
    private let epoch: Int64
    let maxCachedFinishedRuns: Int

    init(log: SQLiteEventLog, now: @escaping @Sendable () -> Int64, maxCachedFinishedRuns: Int = 64) {
        let bound = max(0, maxCachedFinishedRuns)
        self.maxCachedFinishedRuns = bound
        epoch = log.epoch
        state = Mutex(State(log: log, now: now, maxCachedFinishedRuns: bound))
    }

    /// Finished runs whose state is held in memory now (for tests and diagnostics).
    var cachedFinishedRunCount: Int {
        state.withLock { state in state.channels.values.filter { $0.store.isFinished }.count }
    }

    /// Declares a new live run (before any of its events is queued), in `epoch` (the log's
    /// unless the run was adopted from another log).
    func register(runID: String, epoch runEpoch: Int64? = nil) {
        state.withLock { state in state.register(runID: runID, epoch: runEpoch) }
    }

    /// Runs started and not finished (live runs are never evicted from the hub).
    func liveRunCount() -> Int {
        state.withLock { state in state.channels.values.reduce(0) { $0 + ($1.store.isFinished ? 0 : 1) } }
    }

    /// Every run the engine knows, oldest first (see ``RunSummary``).
    func runs() throws(DAGEngineError) -> [RunSummary] {
        try state.withLock { (state) throws(DAGEngineError) in try state.listing() }
    }

    /// The `runs` listing as a lobby message, stamped with the serial of the last lobby
    /// message it reflects.
    func lobbyListing() throws(DAGEngineError) -> LobbyMessage {
        try state.withLock { (state) throws(DAGEngineError) in
            LobbyMessage(epoch: epoch, ts: state.now(), event: .runs(try state.listing()), serial: state.lobbySerial)
        }
    }

    /// The listing, then every run starting, finishing or being forgotten.
    func subscribeLobby() throws(DAGEngineError) -> LobbySubscription {
        let buffer = SubscriptionBuffer<LobbyMessage>()
        try state.withLock { (state) throws(DAGEngineError) in
            buffer.yield(
                LobbyMessage(epoch: epoch, ts: state.now(), event: .runs(try state.listing()), serial: state.lobbySerial))
            guard !state.stopped else {
                buffer.finish()
                return
            }
            let subscriberID = state.newSubscriberID()
            buffer.setOnTermination { [weak self] in
                self?.state.withLock { state in state.lobby[subscriberID] = nil }
            }
            state.lobby[subscriberID] = buffer
        }
        return LobbySubscription(buffer)
    }

    func eventsCommitted(_ events: [LoggedEvent]) {
        state.withLock { state in state.publish(events) }
    }

    /// Nothing more will be published: end every live subscription and answer every waiter
    /// with `nil` (the run did not complete in this process; the next open marks it interrupted).
    func logStopped() {
        state.withLock { state in state.stop() }
    }

    func runsDeleted(_ runIDs: [String]) {
        state.withLock { state in
            for runID in runIDs {
                state.channels[runID] = nil
                state.publishToLobby(.runRemoved(dagID: runID))
            }
        }
    }

    /// The current state of the run as a `snapshot` envelope.
    func snapshot(runID: String) throws(DAGEngineError) -> EventEnvelope {
        try state.withLock { (state) throws(DAGEngineError) in
            try state.channel(runID).store.snapshotEnvelope(ts: state.now())
        }
    }

    /// The current state store of the run (value copy).
    func store(runID: String) throws(DAGEngineError) -> DAGStateStore {
        try state.withLock { (state) throws(DAGEngineError) in try state.channel(runID).store }
    }

    func subscribe(runID: String, since: Int64?, epoch clientEpoch: Int64?) throws(DAGEngineError) -> EventSubscription {
        let buffer = SubscriptionBuffer<EventEnvelope>()
        try attach(
            .envelopes(buffer), runID: runID, since: since, epoch: clientEpoch,
            replay: { (log, after, head) throws(DAGEngineError) in
                buffer.yield(contentsOf: try log.events(runID: runID, after: after, upTo: head))
            },
            snapshot: { buffer.yield($0) })
        return EventSubscription(buffer)
    }

    /// As ``subscribe(runID:since:epoch:)``, but each event comes as its canonical bytes: the
    /// live events' are the very buffers the log stored, a replay's are read from the log as
    /// they are (no decoding), and a starting snapshot is encoded once here.
    func subscribeEncoded(runID: String, since: Int64?, epoch clientEpoch: Int64?) throws(DAGEngineError)
        -> EncodedEventSubscription
    {
        let buffer = SubscriptionBuffer<EncodedEvent>()
        try attach(
            .encoded(buffer), runID: runID, since: since, epoch: clientEpoch,
            replay: { (log, after, head) throws(DAGEngineError) in
                buffer.yield(contentsOf: try log.encodedEvents(runID: runID, after: after, upTo: head))
            },
            snapshot: { buffer.yield(EncodedEvent($0)) })
        return EncodedEventSubscription(buffer)
    }

    /// Under the mutex: hands the subscriber its start (the logged events (`since`, head], read
    /// by `replay`, or the `snapshot` at the head), then registers it for live events unless
    /// the run is over.
    private func attach(
        _ subscriber: Subscriber, runID: String, since: Int64?, epoch clientEpoch: Int64?,
        replay: (SQLiteEventLog, _ after: Int64, _ head: Int64) throws(DAGEngineError) -> Void,
        snapshot: (EventEnvelope) -> Void
    ) throws(DAGEngineError) {
        try state.withLock { (state) throws(DAGEngineError) in
            var channel = try state.channel(runID)
            let head = channel.store.seq
            if let since, clientEpoch == nil || clientEpoch == channel.store.epoch, since <= head {
                try replay(state.log, since, head)
            } else {
                snapshot(channel.store.snapshotEnvelope(ts: state.now()))
            }
            if channel.store.isFinished || state.stopped {
                subscriber.finish()
                return
            }
            let subscriberID = state.newSubscriberID()
            subscriber.setOnTermination { [weak self] in
                self?.state.withLock { state in state.channels[runID]?.subscribers[subscriberID] = nil }
            }
            channel.subscribers[subscriberID] = subscriber
            state.channels[runID] = channel
        }
    }

    /// Number of live subscribers of a run (for tests and diagnostics).
    func subscriberCount(runID: String) -> Int {
        state.withLock { state in state.channels[runID]?.subscribers.count ?? 0 }
    }

    /// Waits until the run's `execution_complete` is committed and published; `nil` if the run
    /// is unknown or the log stopped first.
    ///
    /// `@concurrent`: for a run that is not in memory this loads its history from the log
    /// (blocking SQLite reads), which must not run on the caller's actor or event loop, as it
    /// did not before async functions ran on their caller's executor by default.
    @concurrent
    func waitForCompletion(runID: String) async -> ExecutionStatus? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ExecutionStatus?, Never>) in
            let answer: ExecutionStatus?? = state.withLock { state in
                // Safe to drop: an unknown run has no completion to wait for; nil says so.
                guard var channel = try? state.channel(runID) else { return .some(nil) }
                if channel.store.isFinished { return .some(channel.store.state.status) }
                if state.stopped { return .some(nil) }
                channel.waiters.append(continuation)
                state.channels[runID] = channel
                return .none
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }
}

extension EventHub {
    /// One subscriber of a run: it takes envelopes, or their canonical bytes.
    private enum Subscriber: Sendable {
        case envelopes(SubscriptionBuffer<EventEnvelope>)
        case encoded(SubscriptionBuffer<EncodedEvent>)

        func finish() {
            switch self {
            case .envelopes(let buffer): buffer.finish()
            case .encoded(let buffer): buffer.finish()
            }
        }

        func setOnTermination(_ body: @escaping @Sendable () -> Void) {
            switch self {
            case .envelopes(let buffer): buffer.setOnTermination(body)
            case .encoded(let buffer): buffer.setOnTermination(body)
            }
        }
    }

    /// What one run's publication needs: its reduced state, its subscribers and who waits for its end.
    private struct Channel {
        var store: DAGStateStore
        var subscribers: [UInt64: Subscriber] = [:]
        var waiters: [CheckedContinuation<ExecutionStatus?, Never>] = []
    }

    /// Everything the hub's mutex protects, and the operations on it (called with the mutex held).
    private struct State {
        let log: SQLiteEventLog
        let now: @Sendable () -> Int64
        let maxCachedFinishedRuns: Int
        var channels: [String: Channel] = [:]
        var lobby: [UInt64: SubscriptionBuffer<LobbyMessage>] = [:]
        var lobbySerial: UInt64 = 0
        /// Finished runs whose state this hub holds, least recently used first.
        var cachedFinished: [String] = []
        var nextSubscriberID: UInt64 = 0
        var stopped = false

        init(log: SQLiteEventLog, now: @escaping @Sendable () -> Int64, maxCachedFinishedRuns: Int) {
            self.log = log
            self.now = now
            self.maxCachedFinishedRuns = maxCachedFinishedRuns
        }

        mutating func newSubscriberID() -> UInt64 {
            nextSubscriberID += 1
            return nextSubscriberID
        }

        mutating func register(runID: String, epoch runEpoch: Int64?) {
            channels[runID] = Channel(store: DAGStateStore(dagID: runID, epoch: runEpoch ?? log.epoch))
            publishToLobby(.runStarted(RunSummary(dagID: runID, finished: false, status: .running, lastSeq: 0)))
        }

        mutating func publishToLobby(_ event: LobbyMessage.Event) {
            lobbySerial += 1
            guard !lobby.isEmpty else { return }
            let message = LobbyMessage(epoch: log.epoch, ts: now(), event: event, serial: lobbySerial)
            for subscriber in lobby.values { subscriber.yield(message) }
        }

        static func summary(_ store: DAGStateStore) -> RunSummary {
            RunSummary(dagID: store.dagID, finished: store.isFinished, status: store.state.status, lastSeq: store.seq)
        }

        /// Every run: the log's, with the live state of the runs this hub holds.
        func listing() throws(DAGEngineError) -> [RunSummary] {
            var runs = try log.runs().map { record in
                channels[record.runID].map { Self.summary($0.store) }
                    ?? RunSummary(dagID: record.runID, finished: record.finished, status: record.status, lastSeq: record.lastSeq)
            }
            let listed = Set(runs.map(\.dagID))
            // Runs registered whose first events are not committed yet.
            runs += channels.values.filter { !listed.contains($0.store.dagID) }.map { Self.summary($0.store) }
                .sorted { $0.dagID < $1.dagID }
            return runs
        }

        /// Marks a finished run as just used and evicts the least recently used finished runs
        /// beyond the bound that nobody subscribes to or waits for.
        mutating func touchFinished(_ runID: String) {
            if let index = cachedFinished.lastIndex(of: runID) { cachedFinished.remove(at: index) }
            cachedFinished.append(runID)
            var excess = cachedFinished.count - maxCachedFinishedRuns
            guard excess > 0 else { return }
            cachedFinished.removeAll { cachedID in
                guard excess > 0, cachedID != runID else { return false }
                guard let channel = channels[cachedID] else { return true }
                guard channel.subscribers.isEmpty, channel.waiters.isEmpty else { return false }
                channels[cachedID] = nil
                excess -= 1
                return true
            }
        }

        /// The run's channel; loads a run that is not live (finished earlier, or recovered) from the log.
        mutating func channel(_ runID: String) throws(DAGEngineError) -> Channel {
            if let channel = channels[runID] {
                if channel.store.isFinished { touchFinished(runID) }
                return channel
            }
            guard try log.hasRun(runID) else { throw DAGEngineError.unknownRun(runID) }
            let events = try log.events(runID: runID, after: 0)
            // An adopted run keeps the epoch of the log it was started in; its events carry it.
            var store = DAGStateStore(dagID: runID, epoch: events.first?.epoch ?? log.epoch)
            for envelope in events { store.apply(envelope) }
            let channel = Channel(store: store)
            channels[runID] = channel
            if store.isFinished { touchFinished(runID) }
            return channel
        }

        mutating func publish(_ events: [LoggedEvent]) {
            var index = 0
            while index < events.count {
                let runID = events[index].envelope.dagID
                guard var channel = channels.removeValue(forKey: runID) else {
                    index += 1
                    continue
                }
                // Apply every consecutive event of the same run with one dictionary round-trip,
                // then hand the segment to each subscriber at once.
                let start = index
                while index < events.count && events[index].envelope.dagID == runID {
                    channel.store.apply(events[index].envelope)
                    index += 1
                }
                if !channel.subscribers.isEmpty {
                    // Each form made once per segment, and only if someone takes it.
                    var envelopes: [EventEnvelope]?
                    var encoded: [EncodedEvent]?
                    for subscriber in channel.subscribers.values {
                        switch subscriber {
                        case .envelopes(let buffer):
                            if envelopes == nil { envelopes = events[start..<index].map(\.envelope) }
                            buffer.yield(contentsOf: envelopes ?? [])
                        case .encoded(let buffer):
                            if encoded == nil { encoded = events[start..<index].map(\.encoded) }
                            buffer.yield(contentsOf: encoded ?? [])
                        }
                    }
                }
                if channel.store.isFinished {
                    for subscriber in channel.subscribers.values { subscriber.finish() }
                    channel.subscribers = [:]
                    let status = channel.store.state.status
                    publishToLobby(.runFinished(Self.summary(channel.store)))
                    for waiter in channel.waiters { waiter.resume(returning: status) }
                    channel.waiters = []
                }
                channels[runID] = channel
                if channel.store.isFinished { touchFinished(runID) }
            }
        }

        mutating func stop() {
            stopped = true
            for runID in Array(channels.keys) {
                guard var channel = channels[runID] else { continue }
                for subscriber in channel.subscribers.values { subscriber.finish() }
                channel.subscribers = [:]
                for waiter in channel.waiters { waiter.resume(returning: nil) }
                channel.waiters = []
                channels[runID] = channel
            }
            for subscriber in lobby.values { subscriber.finish() }
            lobby = [:]
        }
    }
}
