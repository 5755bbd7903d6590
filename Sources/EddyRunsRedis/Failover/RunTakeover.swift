public import EddyDAG
public import EddyDAGStream
import EddyDAGRedis
import EddyRedis
import EddyRedisCore
import EddyShared

/// Failover's taking side: watches the runs other nodes own (as a `RemoteRuns` directory lists
/// them) and takes over any live one whose lease (`RunLease`) has expired — its owner died,
/// froze or lost Redis — by adopting it from its Redis stream into this node's engine
/// (`DAGEngine.adopt`). The adopted run is then this node's: its mirror (the `RunLogMirror`
/// whose `leases` this takes) appends its next events to the same stream and announces this
/// node as its owner, so commands are forwarded here.
///
/// Guarantees:
/// - of all the nodes polling one run, only the one whose `SET … NX` creates the lease adopts
///   it; the others see the lease held and leave the run alone;
/// - the run is adopted from the entries its stream holds (the dead owner's events up to what
///   its mirror had stored: anything it logged later is lost with it);
/// - a run whose stream already ends with `execution_complete` (its owner died after storing
///   the end, before announcing it) is not adopted: it is announced finished, for its owner;
/// - a run that cannot be adopted here (no definition for it, a history the engine refuses:
///   see `DAGEngine.adopt`) is reported once, its lease released, and not tried again by this node;
/// - polls every `pollInterval` (a lease's `ttl / 2` by default), one run after the other;
/// - after Redis failed to answer it, contends for nothing during `3 × ttl`: an outage longer
///   than a lease expires every lease, and the owners, which renew every `ttl / 3` and may
///   take their leases again (`RunLeaseKeeper`'s `resuming`), get that long to do so first.
public final class RunTakeover: Sendable {
    public let node: String
    public let engine: DAGEngine
    public let pollInterval: Duration
    private let directory: any RemoteRuns
    private let leases: RunLeaseKeeper
    private let log: RedisEventLog
    private let registry: RunRegistry
    private let definition: @Sendable (String) -> DAGDefinition?
    private let report: @Sendable (String) -> Void
    private let refused = Mutex<Set<String>>([])
    private let repeating = RepeatingPass()
    private let tally = Mutex(0)
    /// When a Redis call of this takeover last failed.
    private let lastFailure = Mutex<ContinuousClock.Instant?>(nil)
    private let metrics = MirrorMetrics()

    /// - Parameters:
    ///   - mirror: this node's mirror; its engine adopts, its log is read.
    ///   - leases: the mirror's lease keeper (`mirror.leases`, present when it has a `leaseTTL`).
    ///   - definition: the definition of a run to adopt, by run id (nil: not adopted here).
    public init(mirror: RunLogMirror, leases: RunLeaseKeeper, directory: any RemoteRuns, pollInterval: Duration? = nil,
                definition: @escaping @Sendable (String) -> DAGDefinition?, report: @escaping @Sendable (String) -> Void) {
        node = mirror.node
        engine = mirror.engine
        log = mirror.log
        registry = mirror.registry
        self.directory = directory
        self.leases = leases
        self.pollInterval = pollInterval ?? leases.lease.ttl / 2
        self.definition = definition
        self.report = report
    }

    /// Runs adopted so far by this node.
    public var adoptedCount: Int { tally.withLock { $0 } }

    /// Starts polling (idempotent).
    public func start() {
        repeating.start(every: pollInterval) { [self] in await poll() }
    }

    /// Stops polling, after the pass in progress (if any) ends.
    public func stop() async {
        await repeating.stop()
    }

    /// One pass: every live run of another node whose lease is gone is contended for, and adopted if won.
    public func poll() async {
        for remote in directory.summaries() where !remote.run.finished && remote.node != node {
            let runID = remote.run.dagID
            guard !Task.isCancelled, !refused.withLock({ $0.contains(runID) }), (try? engine.state(runID: runID)) == nil else { continue }
            do {
                guard try await leases.lease.holder(runID: runID) == nil else { continue }
                if let failed = lastFailure.withLock({ $0 }), ContinuousClock.now - failed < leases.lease.ttl * 3 { continue }
                guard try await leases.lease.acquire(runID: runID) else { continue }
            } catch {
                lastFailure.withLock { $0 = ContinuousClock.now }
                continue // Redis unavailable: the next pass tries again
            }
            leases.hold(runID)
            await adopt(runID, from: remote.node)
        }
    }

    private func adopt(_ runID: String, from owner: String) async {
        do {
            let entries = try await log.entries(runID: runID, after: 0)
            if let last = entries.last, case .executionComplete(let completion) = last.envelope.event {
                try await announceFinished(runID, owner: owner, last: last, status: completion.status)
                try await leases.release(runID)
                return
            }
            guard let definition = definition(runID) else { throw TakeoverRefusal("no definition for it on this node") }
            let history = entries.map(\.encoded)
            try await engine.adopt(definition, runID: runID, history: history, by: node)
            tally.withLock { $0 += 1 }
            metrics.tookOver()
            report("run \(runID): taken over from node \(owner) (its lease expired) at seq \(history.count)")
        } catch {
            refused.withLock { _ = $0.insert(runID) }
            report("run \(runID): its owner \(owner) lost its lease, but this node cannot take it over: \(error)")
            try? await leases.release(runID)
        }
    }
}

extension RunTakeover {
    /// Writes and publishes the run's `run_finished` record in its owner's name, as the owner's
    /// mirror would have (`HSET` + `PUBLISH`, one pipeline).
    private func announceFinished(_ runID: String, owner: String, last: StreamEntry, status: ExecutionStatus) async throws {
        let summary = RunSummary(dagID: runID, finished: true, status: status, lastSeq: last.seq)
        let record = RunRegistryRecord(node: owner, message: LobbyMessage(epoch: last.envelope.epoch, ts: last.envelope.ts,
                                                                          event: .runFinished(summary)))
        let replies = try await log.client.pipeline([
            RedisCommand("HSET", arguments: [Array(registry.runsKey.utf8), Array(runID.utf8), record.bytes]),
            RedisCommand("PUBLISH", arguments: [Array(registry.lobbyChannel.utf8), record.bytes]),
        ])
        for reply in replies { if case .error(let message) = reply { throw RedisError.server(message) } }
        report("run \(runID): its owner \(owner) died after storing its end; announced it finished")
    }
}

/// Why a run could not be taken over (besides the engine's refusals).
struct TakeoverRefusal: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
