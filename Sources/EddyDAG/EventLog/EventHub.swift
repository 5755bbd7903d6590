import Foundation

/// Publication of committed events to subscribers, and the live state of every known run.
///
/// Guarantees:
/// - subscribers only ever receive events the log has committed, in `seq` order;
/// - ``subscribe(runID:since:epoch:)`` is atomic with publication (one lock): the replayed
///   events (`since`, head] and the live events that follow form one gap-free, duplicate-free
///   sequence; if the client's `epoch` differs or `since` is absent, the sequence starts with
///   one `snapshot` at the head instead;
/// - a subscription to a finished run ends after its last event;
/// - ``subscribeLobby()`` is atomic with publication too: the listing it starts with and the
///   `run_started` / `run_finished` / `run_removed` that follow report every run exactly once
///   in each state.
///
/// - Note: subscriptions buffer without bound (see ``EventSubscription``); bounded policies
///   belong to the fan-out layer (rooms).
/// - Note: live runs stay in memory; of the finished ones (finished here or loaded from the
///   log for a client), only the `maxCachedFinishedRuns` most recently used that nobody is
///   subscribed to or waiting for; the others are reloaded from the log when asked for, so a
///   server that runs for weeks does not keep every run it ever served.
final class EventHub: CommittedEventSink, @unchecked Sendable {
    private struct Channel {
        var store: DAGStateStore
        var subscribers: [UInt64: SubscriptionBuffer<EventEnvelope>] = [:]
        var waiters: [CheckedContinuation<ExecutionStatus?, Never>] = []
    }

    private let lock = NSRecursiveLock()
    private var channels: [String: Channel] = [:]
    private var lobby: [UInt64: SubscriptionBuffer<LobbyMessage>] = [:]
    private var lobbySerial: UInt64 = 0
    /// Finished runs whose state this hub holds, least recently used first.
    private var cachedFinished: [String] = []
    let maxCachedFinishedRuns: Int
    private var nextSubscriberID: UInt64 = 0
    private var stopped = false
    private let log: SQLiteEventLog
    private let now: @Sendable () -> Int64

    init(log: SQLiteEventLog, now: @escaping @Sendable () -> Int64, maxCachedFinishedRuns: Int = 64) {
        self.log = log
        self.now = now
        self.maxCachedFinishedRuns = max(0, maxCachedFinishedRuns)
    }

    /// Marks a finished run as just used and evicts the least recently used finished runs
    /// beyond the bound that nobody subscribes to or waits for. Lock held.
    private func touchFinished(_ runID: String) {
        if let index = cachedFinished.lastIndex(of: runID) { cachedFinished.remove(at: index) }
        cachedFinished.append(runID)
        var excess = cachedFinished.count - maxCachedFinishedRuns
        guard excess > 0 else { return }
        cachedFinished.removeAll { id in
            guard excess > 0, id != runID else { return false }
            guard let channel = channels[id] else { return true }
            guard channel.subscribers.isEmpty, channel.waiters.isEmpty else { return false }
            channels[id] = nil
            excess -= 1
            return true
        }
    }

    /// Finished runs whose state is held in memory now (for tests and diagnostics).
    var cachedFinishedRunCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return channels.values.filter { $0.store.isFinished }.count
    }

    /// Declares a new live run (before any of its events is queued).
    func register(runID: String) {
        lock.lock()
        channels[runID] = Channel(store: DAGStateStore(dagID: runID, epoch: log.epoch))
        publishToLobby(.runStarted(RunSummary(dagID: runID, finished: false, status: .running, lastSeq: 0)))
        lock.unlock()
    }

    /// Lock held.
    private func publishToLobby(_ event: LobbyMessage.Event) {
        lobbySerial += 1
        guard !lobby.isEmpty else { return }
        let message = LobbyMessage(epoch: log.epoch, ts: now(), event: event, serial: lobbySerial)
        for subscriber in lobby.values { subscriber.yield(message) }
    }

    private static func summary(_ store: DAGStateStore) -> RunSummary {
        RunSummary(dagID: store.dagID, finished: store.isFinished, status: store.state.status, lastSeq: store.seq)
    }

    /// Every run: the log's, with the live state of the runs this hub holds. Lock held.
    private func listing() throws(DAGEngineError) -> [RunSummary] {
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

    /// Every run the engine knows, oldest first (see ``RunSummary``).
    func runs() throws(DAGEngineError) -> [RunSummary] {
        lock.lock()
        defer { lock.unlock() }
        return try listing()
    }

    /// The `runs` listing as a lobby message, stamped with the serial of the last lobby
    /// message it reflects.
    func lobbyListing() throws(DAGEngineError) -> LobbyMessage {
        lock.lock()
        defer { lock.unlock() }
        return LobbyMessage(epoch: log.epoch, ts: now(), event: .runs(try listing()), serial: lobbySerial)
    }

    /// The listing, then every run starting, finishing or being forgotten.
    func subscribeLobby() throws(DAGEngineError) -> LobbySubscription {
        lock.lock()
        defer { lock.unlock() }
        let buffer = SubscriptionBuffer<LobbyMessage>()
        buffer.yield(LobbyMessage(epoch: log.epoch, ts: now(), event: .runs(try listing()), serial: lobbySerial))
        if stopped {
            buffer.finish()
            return LobbySubscription(buffer)
        }
        nextSubscriberID += 1
        let id = nextSubscriberID
        buffer.setOnTermination { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self.lobby[id] = nil
            self.lock.unlock()
        }
        lobby[id] = buffer
        return LobbySubscription(buffer)
    }

    func eventsCommitted(_ events: [LoggedEvent]) {
        lock.lock()
        defer { lock.unlock() }
        var i = 0
        while i < events.count {
            let runID = events[i].envelope.dagID
            guard var channel = channels.removeValue(forKey: runID) else {
                i += 1
                continue
            }
            // Apply every consecutive event of the same run with one dictionary round-trip,
            // then hand the segment to each subscriber at once.
            let start = i
            while i < events.count && events[i].envelope.dagID == runID {
                channel.store.apply(events[i].envelope)
                i += 1
            }
            if !channel.subscribers.isEmpty {
                let segment = events[start..<i].map { $0.envelope }
                for c in channel.subscribers.values { c.yield(contentsOf: segment) }
            }
            if channel.store.isFinished {
                for c in channel.subscribers.values { c.finish() }
                channel.subscribers = [:]
                let status = channel.store.state.status
                publishToLobby(.runFinished(Self.summary(channel.store)))
                for w in channel.waiters { w.resume(returning: status) }
                channel.waiters = []
            }
            channels[runID] = channel
            if channel.store.isFinished { touchFinished(runID) }
        }
    }

    /// Nothing more will be published: end every live subscription and answer every waiter
    /// with `nil` (the run did not complete in this process; the next open marks it interrupted).
    func logStopped() {
        lock.lock()
        defer { lock.unlock() }
        stopped = true
        for runID in Array(channels.keys) {
            guard var channel = channels[runID] else { continue }
            for c in channel.subscribers.values { c.finish() }
            channel.subscribers = [:]
            for w in channel.waiters { w.resume(returning: nil) }
            channel.waiters = []
            channels[runID] = channel
        }
        for subscriber in lobby.values { subscriber.finish() }
        lobby = [:]
    }

    func runsDeleted(_ runIDs: [String]) {
        lock.lock()
        for id in runIDs {
            channels[id] = nil
            publishToLobby(.runRemoved(dagID: id))
        }
        lock.unlock()
    }

    /// Loads a run that is not live (finished earlier, or recovered) from the log. Lock held.
    private func channel(_ runID: String) throws(DAGEngineError) -> Channel {
        if let c = channels[runID] {
            if c.store.isFinished { touchFinished(runID) }
            return c
        }
        guard try log.hasRun(runID) else { throw DAGEngineError.unknownRun(runID) }
        var store = DAGStateStore(dagID: runID, epoch: log.epoch)
        for e in try log.events(runID: runID, after: 0) { store.apply(e) }
        let c = Channel(store: store)
        channels[runID] = c
        if store.isFinished { touchFinished(runID) }
        return c
    }

    /// The current state of the run as a `snapshot` envelope.
    func snapshot(runID: String) throws(DAGEngineError) -> EventEnvelope {
        lock.lock()
        defer { lock.unlock() }
        return try channel(runID).store.snapshotEnvelope(ts: now())
    }

    /// The current state store of the run (value copy).
    func store(runID: String) throws(DAGEngineError) -> DAGStateStore {
        lock.lock()
        defer { lock.unlock() }
        return try channel(runID).store
    }

    func subscribe(runID: String, since: Int64?, epoch: Int64?) throws(DAGEngineError) -> EventSubscription {
        lock.lock()
        defer { lock.unlock() }
        var channel = try channel(runID)
        let buffer = SubscriptionBuffer<EventEnvelope>()
        let head = channel.store.seq
        if let since, epoch == nil || epoch == log.epoch, since <= head {
            buffer.yield(contentsOf: try log.events(runID: runID, after: since, upTo: head))
        } else {
            buffer.yield(channel.store.snapshotEnvelope(ts: now()))
        }
        if channel.store.isFinished || stopped {
            buffer.finish()
            return EventSubscription(buffer)
        }
        nextSubscriberID += 1
        let id = nextSubscriberID
        buffer.setOnTermination { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self.channels[runID]?.subscribers[id] = nil
            self.lock.unlock()
        }
        channel.subscribers[id] = buffer
        channels[runID] = channel
        return EventSubscription(buffer)
    }

    /// Number of live subscribers of a run (for tests and diagnostics).
    func subscriberCount(runID: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return channels[runID]?.subscribers.count ?? 0
    }

    /// Waits until the run's `execution_complete` is committed and published; `nil` if the run
    /// is unknown or the log stopped first.
    func waitForCompletion(runID: String) async -> ExecutionStatus? {
        await withCheckedContinuation { (c: CheckedContinuation<ExecutionStatus?, Never>) in
            lock.lock()
            defer { lock.unlock() }
            guard var channel = try? channel(runID) else {
                c.resume(returning: nil)
                return
            }
            if channel.store.isFinished {
                c.resume(returning: channel.store.state.status)
                return
            }
            if stopped {
                c.resume(returning: nil)
                return
            }
            channel.waiters.append(c)
            channels[runID] = channel
        }
    }
}
