import EddyRedis
import EddyShared

/// Keeps this node's run leases alive: renews every lease it holds every `ttl / 3`, and
/// reports a lease that could not be renewed as lost.
///
/// Guarantees:
/// - a run is reported lost (`onLost`, once) when a renewal answers that the lease is not this
///   node's any more (it expired and another node may hold it); from then on the keeper no
///   longer renews it;
/// - Redis unreachable for a whole `ttl` (the lease has expired by then): without `resuming`,
///   the run is reported lost; with it, the keeper goes on trying, and when Redis answers it
///   renews the lease, or takes it again if it is gone and the run's stream has not moved past
///   what this node stored (`RunLease.renewOrRetake`), or reports the run lost. A run's owner
///   thus keeps its runs across a Redis outage unless another node took them over meanwhile
///   (the log of record made the owner show and do nothing Redis lacks while it was out);
/// - renewals of one pass are sent one after the other on the lease's client, never
///   overlapping the next pass (one task).
public final class RunLeaseKeeper: Sendable {
    public let lease: RunLease
    private let held = Mutex<[String: ContinuousClock.Instant]>([:])
    private let repeating = RepeatingPass()
    private let onLost: @Sendable (String) -> Void
    private let report: @Sendable (String) -> Void
    private let resuming: (@Sendable (String) -> (streamKey: String, storedSeq: Int64))?
    /// Runs whose lease went unrenewed for a whole `ttl` (Redis out of reach), reported once.
    private let overdue = Mutex<Set<String>>([])

    /// - Parameters:
    ///   - resuming: for a run, its stream's key and the last `seq` this node stored there; with
    ///     it, an outage does not lose the run by itself (see the type). Nil: the lease is lost
    ///     after a `ttl` without renewal.
    ///   - onLost: called with a run's id when its lease is lost (fence the run there).
    public init(lease: RunLease, resuming: (@Sendable (String) -> (streamKey: String, storedSeq: Int64))? = nil,
                report: @escaping @Sendable (String) -> Void, onLost: @escaping @Sendable (String) -> Void) {
        self.lease = lease
        self.resuming = resuming
        self.report = report
        self.onLost = onLost
    }

    /// Runs whose lease this node holds now.
    public var runs: [String] { held.withLock { Array($0.keys) } }

    /// Starts renewing (idempotent).
    public func start() {
        repeating.start(every: lease.ttl / 3) { [self] in await renewAll() }
    }

    /// Stops renewing; the leases held expire on their own (or are released by their runs' end).
    public func stop() async {
        await repeating.stop()
    }

    /// Records that this node holds `runID`'s lease (just acquired), so it is renewed.
    public func hold(_ runID: String) {
        held.withLock { $0[runID] = ContinuousClock.now }
    }

    /// Stops renewing `runID`'s lease and deletes it if it is still this node's.
    public func release(_ runID: String) async throws {
        guard held.withLock({ $0.removeValue(forKey: runID) }) != nil else { return }
        try await lease.release(runID: runID)
    }

    /// One renewal pass over every lease held (what the keeper's task does every `ttl / 3`).
    public func renewAll() async {
        for runID in runs {
            do {
                let renewed: Bool
                if let resuming {
                    // Also after a pass that came too late (a stalled process): the lease expired,
                    // but if nobody took it and the stream did not move, it is taken again.
                    let (streamKey, storedSeq) = resuming(runID)
                    let outcome = try await lease.renewOrRetake(runID: runID, streamKey: streamKey, storedSeq: storedSeq)
                    renewed = outcome != .lost
                    let wasOverdue = overdue.withLock { $0.remove(runID) != nil }
                    if renewed && (wasOverdue || outcome == .retaken) {
                        report("run \(runID): its lease is this node's again (\(outcome == .retaken ? "taken again" : "renewed")); the run goes on")
                    }
                } else {
                    renewed = try await lease.renew(runID: runID)
                }
                let stillHeld = held.withLock { held -> Bool in
                    guard held[runID] != nil else { return false }
                    if renewed { held[runID] = ContinuousClock.now } else { held[runID] = nil }
                    return true
                }
                if stillHeld && !renewed {
                    overdue.withLock { _ = $0.remove(runID) }
                    report("run \(runID): its lease is no longer this node's; stopping work for it here")
                    onLost(runID)
                }
            } catch {
                let expired = held.withLock { held -> Bool in
                    guard let last = held[runID], ContinuousClock.now - last >= lease.ttl else { return false }
                    if resuming == nil { held[runID] = nil }
                    return true
                }
                guard expired else { continue }
                if resuming == nil {
                    report("run \(runID): its lease could not be renewed for \(lease.ttl) (\(error)); it has expired")
                    onLost(runID)
                } else if overdue.withLock({ $0.insert(runID).inserted }) {
                    report("run \(runID): its lease could not be renewed for \(lease.ttl) (\(error)); the run waits for Redis, and goes on if no other node took it over meanwhile")
                }
            }
        }
    }
}
