import CoreMetrics

/// The Redis side of runs across nodes, recorded through swift-metrics: what the owner's
/// mirror stored, sent, retried, dropped and copied back from SQLite, the events waiting in its
/// queue (which grows while Redis is unavailable, up to the queue's limit), and the runs this
/// node took over. Recorded per pipeline or per takeover, never per
/// dashboard, so they cost nothing on the delivery path.
struct MirrorMetrics: Sendable {
    private let eventsStored: Counter
    private let commandsSent: Counter
    private let failedAttempts: Counter
    private let eventsDropped: Counter
    private let eventsFromSQLite: Counter
    private let queuedEvents: Meter
    private let takeovers: Counter

    /// - Parameter factory: the metrics backend; nil: the one `MetricsSystem` was bootstrapped with.
    init(factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        eventsStored = Counter(label: "eddy_redis_mirror_events_stored_total", dimensions: [], factory: factory)
        commandsSent = Counter(label: "eddy_redis_mirror_commands_total", dimensions: [], factory: factory)
        failedAttempts = Counter(label: "eddy_redis_mirror_failed_attempts_total", dimensions: [], factory: factory)
        eventsDropped = Counter(label: "eddy_redis_mirror_events_dropped_total", dimensions: [], factory: factory)
        eventsFromSQLite = Counter(label: "eddy_redis_mirror_events_from_sqlite_total", dimensions: [], factory: factory)
        queuedEvents = Meter(label: "eddy_redis_mirror_queued_events", dimensions: [], factory: factory)
        takeovers = Counter(label: "eddy_redis_takeovers_total", dimensions: [], factory: factory)
    }

    func stored(_ count: Int) { eventsStored.increment(by: count) }
    func sent(_ count: Int) { commandsSent.increment(by: count) }
    func failedAttempt() { failedAttempts.increment() }
    func dropped(_ count: Int = 1) { eventsDropped.increment(by: count) }
    func copiedFromSQLite(_ count: Int) { eventsFromSQLite.increment(by: count) }
    func queued(_ count: Int) { queuedEvents.set(count) }
    func tookOver() { takeovers.increment() }
}
