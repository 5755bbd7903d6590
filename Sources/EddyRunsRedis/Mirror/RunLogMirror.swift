public import CoreMetrics
public import EddyDAG
public import EddyDAGRedis
import EddyRedis
import EddyRedisCore
import EddyShared

/// The owner's side of runs across nodes, and its runs' log of record: every event this
/// node's engine logs goes into the run's Redis stream (`RedisEventLog`), and its runs into
/// the registry and the lobby channel (`RunRegistry`), so other nodes can serve them. The
/// engine publishes an event to its own subscribers, and acts on it, only once it is in Redis
/// (`DAGEngine.replicate(to:policy:)`): no dashboard on any node ever sees an event that a
/// takeover could lose.
///
/// Guarantees:
/// - Each run's stream holds the run's events exactly as the engine logged them (the same
///   bytes), every `seq` from 1 on, in order, each once: one writer appends, in pipelines,
///   only `seq == stored + 1` (an earlier gap is filled from SQLite first), and Redis refuses
///   an entry at or below the stream's top. An event reaches the mirror once SQLite committed
///   it; the engine hears it stored (`replicaStored`) once Redis answered.
/// - A run is announced (`HSET` then `PUBLISH` `run_started`) only once its stream holds its
///   first event, and announced finished only once the stream holds its last.
/// - Redis unavailable: the writer retries the same pipeline with backoff (100 ms to 5 s);
///   the engine's runs wait meanwhile (their next task bodies do not start; an `error`
///   `log_unavailable` is logged after the policy's deadline) and nothing they logged is
///   published. At most `queueLimit` events wait in memory; beyond that, events are dropped
///   (counted; reported once) and their runs marked behind; when Redis is back the writer
///   copies what those runs miss from SQLite. Nothing is lost while this process lives.
/// - Runs recovered from an earlier process (ended `interrupted` at open) are not mirrored.
/// - With `leaseTTL` (failover): before a run is announced, its lease (`RunLease`) is taken
///   for this node, renewed every `ttl / 3` (`RunLeaseKeeper`) and released once the run is
///   announced finished. A run whose lease is another node's, or is lost, is *fenced*: nothing
///   more of it is appended or announced by this node, the engine hears it refused
///   (`replicaRefused`), and relinquishes it (`DAGEngine.relinquish`: its bodies cancelled,
///   ended `interrupted` in SQLite only).
public final class RunLogMirror: EventReplica, Sendable {
    /// What the mirror did so far.
    public struct Counters: Sendable, Hashable {
        /// Events stored in Redis (`XADD`s that stored something).
        public var eventsStored = 0
        /// Commands sent to Redis (every `XADD`, `HSET`, `PUBLISH`, `DEL`, `HDEL`), retries included.
        public var commandsSent = 0
        /// Pipelines that failed (timed out, connection lost, Redis unavailable) and were retried.
        public var failedAttempts = 0
        /// Events dropped from the full queue (copied from SQLite later).
        public var eventsDropped = 0
        /// Events copied from SQLite to fill a gap or catch a run up.
        public var eventsFromSQLite = 0
    }

    public let node: String
    public let engine: DAGEngine
    public let log: RedisEventLog
    public let registry: RunRegistry
    private let queue: MirrorQueue
    private let report: @Sendable (String) -> Void
    private let tally = Mutex(Counters())
    private let metrics: MirrorMetrics
    private let tasks = Mutex<(lobby: Task<Void, Never>?, writer: Task<Void, Never>?)>((nil, nil))
    /// How the engine's runs wait for this log of record.
    public let policy: ReplicationPolicy
    private let backoff = RedisBackoff()
    /// Renews the leases of this node's runs (nil without `leaseTTL`: no leases, no failover).
    public let leases: RunLeaseKeeper?
    /// Runs whose lease is not this node's: never appended to or announced again.
    private let fenced: MutexBox<Set<String>>
    /// Each live run's last `seq` Redis acknowledged (what the lease keeper checks the stream against).
    private let tops: MutexBox<[String: Int64]>

    /// - Parameters:
    ///   - leaseTTL: with a value, every run mirrored holds a lease of that time to live (see
    ///     the type); nil (the default): no leases.
    ///   - metricsFactory: where the mirror's metrics go (`eddy_redis_mirror_*`); nil (the
    ///     default): the backend `MetricsSystem` was bootstrapped with.
    ///   - policy: how the engine's runs wait for Redis (see `ReplicationPolicy`).
    ///   - report: hears outages, drops and recoveries (one line each, never per event).
    public init(engine: DAGEngine, node: String, log: RedisEventLog, registry: RunRegistry = RunRegistry(),
                queueLimit: Int = 10_000, leaseTTL: Duration? = nil, policy: ReplicationPolicy = ReplicationPolicy(),
                metricsFactory: (any MetricsFactory)? = nil, report: @escaping @Sendable (String) -> Void) {
        self.metrics = MirrorMetrics(factory: metricsFactory)
        self.policy = policy
        self.engine = engine
        self.node = node
        self.log = log
        self.registry = registry
        self.queue = MirrorQueue(limit: queueLimit)
        self.report = report
        let fenced = MutexBox<Set<String>>([])
        self.fenced = fenced
        let tops = MutexBox<[String: Int64]>([:])
        self.tops = tops
        leases = leaseTTL.map { ttl in
            RunLeaseKeeper(lease: RunLease(node: node, ttl: ttl, client: log.client, keyPrefix: registry.keyPrefix),
                           resuming: { runID in (log.streamKey(runID: runID), tops.get()[runID] ?? 0) },
                           report: report) { runID in
                _ = fenced.update { $0.insert(runID) }
                engine.replicaRefused(runID: runID)
                // The run is another node's now: stop running it here too.
                Task { await engine.relinquish(runID: runID, reason: "node \(node) lost its lease on this run; another node runs it") }
            }
        }
    }

    /// Whether this node stopped mirroring `runID` because its lease is another node's.
    public func isFenced(_ runID: String) -> Bool { fenced.get().contains(runID) }

    public var counters: Counters {
        var counters = tally.withLock { $0 }
        counters.eventsDropped = queue.dropped
        return counters
    }

    /// Becomes the engine's log of record (before any run starts: see
    /// `DAGEngine.replicate(to:policy:)`), follows its lobby for runs ending or removed, and
    /// starts the writer.
    /// - Throws: `DAGEngineError` when the engine has runs live or another log of record.
    public func start() throws(DAGEngineError) {
        let lobby = try engine.subscribeLobby()
        try engine.replicate(to: self, policy: policy)
        let writer = Task { [self] in await self.write() }
        let listening = Task { [self] in
            for await message in lobby {
                switch message.event {
                case .runs, .runStarted, .heartbeat: break // a run's events come from the log (`replicate`)
                case .runFinished(let run): queue.put(.finished(run))
                case .runRemoved(let dagID): queue.put(.removed(dagID))
                }
            }
        }
        tasks.withLock { $0 = (listening, writer) }
        leases?.start()
    }

    /// Stops following the engine, stores what is queued (trying for at most `drain`), and returns.
    public func stop(draining drain: Duration = .seconds(2)) async {
        let (lobby, writer) = tasks.withLock { $0 }
        await leases?.stop()
        lobby?.cancel()
        queue.stop()
        let deadline = ContinuousClock.now + drain
        let stopper = Task {
            try? await Task.sleep(until: deadline)
            writer?.cancel()
        }
        await writer?.value
        stopper.cancel()
    }

    /// Events the engine's log committed (on its writer thread): queued for the writer.
    public func replicate(_ events: [EncodedEvent]) {
        let (dropped, queued) = queue.put(events: events)
        if dropped > 0 { metrics.dropped(dropped) }
        metrics.queued(queued)
    }

    // MARK: - The writer

    /// The single writer: takes what is queued and stores it, in order, retrying each step.
    private func write() async {
        var stored = MirrorProgress()
        while let (behind, items) = await queue.take() {
            metrics.queued(queue.queuedEvents)
            for runID in behind.sorted() {
                await retrying("catching run \(runID) up from SQLite") { try await self.catchUp(runID, upTo: .max, &stored) }
            }
            var index = 0
            while index < items.count {
                switch items[index] {
                case .event:
                    var batch: [EncodedEvent] = []
                    while index < items.count, case .event(let event) = items[index], batch.count < 512 {
                        batch.append(event)
                        index += 1
                    }
                    await retrying("appending \(batch.count) events") { try await self.append(batch, &stored) }
                case .finished(let run):
                    index += 1
                    await retrying("announcing run \(run.dagID) finished") {
                        try await self.catchUp(run.dagID, upTo: run.lastSeq, &stored)
                        try await self.announce(.runFinished(run), &stored)
                    }
                case .removed(let runID):
                    index += 1
                    await retrying("removing run \(runID)") { try await self.remove(runID, &stored) }
                }
            }
        }
    }

    /// Runs `step` until it succeeds, backing off between Redis failures; gives up only when
    /// cancelled (at the end of `stop`'s drain), or at once on any other failure (SQLite's). One report when Redis fails, one when it works again.
    private func retrying(_ what: String, _ step: () async throws -> Void) async {
        var failures = 0
        guard !Task.isCancelled else { return } // given up already (reported once)
        while !Task.isCancelled {
            do {
                try await step()
                if failures > 0 { report("Redis mirror: working again after \(failures) failed attempts (\(what))") }
                return
            } catch where !(error is RedisError) {
                // SQLite could not be read (the run was deleted meanwhile, or the log failed):
                // retrying would not help.
                report("Redis mirror: \(what) failed (\(error)); skipped")
                return
            } catch {
                failures += 1
                tally.withLock { $0.failedAttempts += 1 }
                metrics.failedAttempt()
                if failures == 1 {
                    report("Redis mirror: \(what) failed (\(error)); retrying, up to \(queue.limit) events queue in memory, then runs fall behind and catch up from SQLite")
                }
                try? await Task.sleep(for: backoff.delay(afterFailures: failures))
            }
        }
        report("Redis mirror: gave up at shutdown (\(what) and what was queued after it); the events stay in SQLite")
    }

    /// Appends a batch, filling any gap before an event from SQLite, and announces runs whose
    /// streams just got their first event.
    private func append(_ batch: [EncodedEvent], _ stored: inout MirrorProgress) async throws {
        var next = stored
        var events: [EncodedEvent] = []
        let fenced = self.fenced.get()
        for event in batch where !fenced.contains(event.dagID) {
            let top = next.seq[event.dagID] ?? 0
            guard event.seq > top else { continue }
            if event.seq > top + 1 {
                let missing = try engine.log.encodedEvents(runID: event.dagID, after: top, upTo: event.seq - 1)
                events += missing
                tally.withLock { $0.eventsFromSQLite += missing.count }
                metrics.copiedFromSQLite(missing.count)
            }
            events.append(event)
            next.seq[event.dagID] = event.seq
        }
        try await store(events)
        stored.seq = next.seq
        for runID in Set(batch.map(\.dagID)) {
            if fenced.contains(runID) {
                engine.replicaRefused(runID: runID)
            } else if let top = stored.seq[runID] {
                acknowledge(runID, top)
            }
        }
        for runID in Set(events.map(\.dagID)) where !stored.announced.contains(runID) {
            try await announce(.runStarted(RunSummary(dagID: runID, finished: false, status: .running, lastSeq: stored.seq[runID] ?? 0)),
                               &stored)
        }
    }

    /// Tells the engine (and the lease keeper) that Redis holds `runID` up to `seq`.
    private func acknowledge(_ runID: String, _ seq: Int64) {
        tops.update { $0[runID] = max($0[runID] ?? 0, seq) }
        engine.replicaStored(runID: runID, through: seq)
    }

    /// Copies the run's events after what the stream holds, up to `upTo`, from SQLite.
    private func catchUp(_ runID: String, upTo: Int64, _ stored: inout MirrorProgress) async throws {
        // Bounded: each page advances the top by at least one event, and the log is finite.
        while !isFenced(runID) {
            let top = stored.seq[runID] ?? 0
            guard top < upTo else { return }
            let page = try engine.log.encodedEvents(runID: runID, after: top, upTo: min(upTo, top + 512))
            guard let last = page.last else { return }
            try await store(page)
            tally.withLock { $0.eventsFromSQLite += page.count }
            metrics.copiedFromSQLite(page.count)
            stored.seq[runID] = last.seq
            acknowledge(runID, last.seq)
        }
    }

    private func store(_ events: [EncodedEvent]) async throws {
        guard !events.isEmpty else { return }
        tally.withLock { $0.commandsSent += events.count }
        metrics.sent(events.count)
        let count = try await log.append(encoded: events)
        tally.withLock { $0.eventsStored += count }
        metrics.stored(count)
    }

    /// Writes the run's record, then publishes it (`HSET` + `PUBLISH`, one pipeline).
    private func announce(_ event: LobbyMessage.Event, _ stored: inout MirrorProgress) async throws {
        let record = RunRegistryRecord(node: node, message: LobbyMessage(epoch: engine.epoch, ts: engine.log.currentTime, event: event))
        guard let runID = record.dagID, !isFenced(runID) else { return }
        if let leases, case .runStarted = event {
            // The lease exists before any node can list the run, so none takes a live run over.
            if !(try await leases.lease.acquire(runID: runID)), try await leases.lease.holder(runID: runID) != node {
                _ = fenced.update { $0.insert(runID) }
                engine.replicaRefused(runID: runID)
                report("run \(runID): its lease is another node's; not mirrored from here, and given up here")
                let (engine, node) = (self.engine, self.node)
                Task { await engine.relinquish(runID: runID, reason: "node \(node) found this run's lease held by another node") }
                return
            }
            leases.hold(runID)
        }
        try await send([RedisCommand("HSET", arguments: [Array(registry.runsKey.utf8), Array(runID.utf8), record.bytes]),
                        RedisCommand("PUBLISH", arguments: [Array(registry.lobbyChannel.utf8), record.bytes])])
        stored.announced.insert(runID)
        if case .runFinished = event {
            try await leases?.release(runID)
            tops.update { $0[runID] = nil }
        }
    }

    private func remove(_ runID: String, _ stored: inout MirrorProgress) async throws {
        let record = RunRegistryRecord(node: node, message: LobbyMessage(epoch: engine.epoch, ts: engine.log.currentTime,
                                                                 event: .runRemoved(dagID: runID)))
        try await send([RedisCommand("DEL", log.streamKey(runID: runID)), RedisCommand("HDEL", registry.runsKey, runID),
                        RedisCommand("PUBLISH", arguments: [Array(registry.lobbyChannel.utf8), record.bytes])])
        stored.seq[runID] = nil
        stored.announced.remove(runID)
    }

    private func send(_ commands: [RedisCommand]) async throws {
        tally.withLock { $0.commandsSent += commands.count }
        metrics.sent(commands.count)
        for reply in try await log.client.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }
}

/// What the writer knows Redis holds: each run's top `seq` and the runs announced.
struct MirrorProgress {
    var seq: [String: Int64] = [:]
    var announced: Set<String> = []
}
