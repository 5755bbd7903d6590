import EddyRedis
import EddyShared

/// Keeps this node's run leases alive: renews every lease it holds every `ttl / 3`, and
/// reports a lease that could not be renewed as lost.
///
/// Guarantees:
/// - a run is reported lost (`onLost`, once) when a renewal answers that the lease is not this
///   node's any more (it expired and another node may hold it), or when no renewal succeeded
///   for a whole `ttl` (Redis unreachable: the lease has expired by then); from then on the
///   keeper no longer renews it;
/// - renewals of one pass are sent one after the other on the lease's client, never
///   overlapping the next pass (one task).
public final class RunLeaseKeeper: Sendable {
    public let lease: RunLease
    private let held = Mutex<[String: ContinuousClock.Instant]>([:])
    private let repeating = RepeatingPass()
    private let onLost: @Sendable (String) -> Void
    private let report: @Sendable (String) -> Void

    /// - Parameter onLost: called with a run's id when its lease is lost (fence the run there).
    public init(lease: RunLease, report: @escaping @Sendable (String) -> Void, onLost: @escaping @Sendable (String) -> Void) {
        self.lease = lease
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
                let renewed = try await lease.renew(runID: runID)
                let stillHeld = held.withLock { held -> Bool in
                    guard held[runID] != nil else { return false }
                    if renewed { held[runID] = ContinuousClock.now } else { held[runID] = nil }
                    return true
                }
                if stillHeld && !renewed {
                    report("run \(runID): its lease is no longer this node's; stopping work for it here")
                    onLost(runID)
                }
            } catch {
                let expired = held.withLock { held -> Bool in
                    guard let last = held[runID], ContinuousClock.now - last >= lease.ttl else { return false }
                    held[runID] = nil
                    return true
                }
                if expired {
                    report("run \(runID): its lease could not be renewed for \(lease.ttl) (\(error)); it has expired")
                    onLost(runID)
                }
            }
        }
    }
}
