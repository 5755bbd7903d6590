import CoreMetrics

/// The Redis side of runs across nodes, recorded through swift-metrics: what the owner's
/// mirror stored, sent, retried, dropped and copied back from SQLite, and the runs this node
/// took over. Recorded per pipeline or per takeover, never per
/// dashboard, so they cost nothing on the delivery path.
struct MirrorMetrics: Sendable {
    private let eventsStored = Counter(label: "eddy_redis_mirror_events_stored_total")
    private let commandsSent = Counter(label: "eddy_redis_mirror_commands_total")
    private let failedAttempts = Counter(label: "eddy_redis_mirror_failed_attempts_total")
    private let eventsDropped = Counter(label: "eddy_redis_mirror_events_dropped_total")
    private let eventsFromSQLite = Counter(label: "eddy_redis_mirror_events_from_sqlite_total")
    private let takeovers = Counter(label: "eddy_redis_takeovers_total")

    func stored(_ count: Int) { eventsStored.increment(by: count) }
    func sent(_ count: Int) { commandsSent.increment(by: count) }
    func failedAttempt() { failedAttempts.increment() }
    func dropped() { eventsDropped.increment() }
    func copiedFromSQLite(_ count: Int) { eventsFromSQLite.increment(by: count) }
    func tookOver() { takeovers.increment() }
}
