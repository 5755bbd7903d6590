import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyShared

/// `--redis` and `--node` for `eddy serve` and `eddy demo`: this node's runs are logged to
/// Redis, their log of record (`RunLogMirror`), and other nodes' runs are listed and streamed here
/// (`RedisRunDirectory`), whose commands are forwarded to their owners (`CommandRelay` answers
/// theirs here), on an event loop of their own. Without `--redis`, nothing of this exists.
final class RunSharing: Sendable {
    let node: String
    let loop: EventLoop
    let directory: RedisRunDirectory
    let configuration: RedisConfiguration
    let leaseTTL: Duration
    let appendDeadline: Duration
    private let relay = MutexBox<CommandRelay?>(nil)
    private let takeover = MutexBox<RunTakeover?>(nil)

    private init(node: String, loop: EventLoop, directory: RedisRunDirectory, configuration: RedisConfiguration, leaseTTL: Duration,
                 appendDeadline: Duration) {
        self.appendDeadline = appendDeadline
        self.node = node
        self.loop = loop
        self.directory = directory
        self.configuration = configuration
        self.leaseTTL = leaseTTL
    }

    /// Reads the registry (waiting up to 5 s for Redis) when `--redis` is given; nil otherwise.
    static func start(_ options: RedisOptions) async throws -> RunSharing? {
        guard let configuration = try options.configuration() else { return nil }
        let node = options.nodeName
        let loop = try EventLoop()
        let directory = RedisRunDirectory(node: node, configuration: configuration, on: loop) { Console.error("eddy: \($0)") }
        Console.error("eddy: node \(node) sharing runs through \(configuration.endpoint)")
        await directory.start(waitingUpTo: .seconds(5))
        return RunSharing(node: node, loop: loop, directory: directory, configuration: configuration,
                          leaseTTL: .milliseconds(Int(options.leaseTtl * 1000)),
                          appendDeadline: .milliseconds(Int(options.appendDeadline * 1000)))
    }

    /// Starts mirroring `engine`'s runs (before the driver starts any), each under a lease,
    /// answering commands other nodes forward to them, and taking over other nodes' runs whose
    /// lease expired, when they are runs of `definition` (failover).
    func mirror(_ engine: DAGEngine, adopting definition: @escaping @Sendable () -> DAGDefinition?) throws -> RunLogMirror {
        let relay = CommandRelay(engine: engine, node: node, configuration: configuration, on: loop) { Console.error("eddy: \($0)") }
        relay.start()
        self.relay.set(relay)
        let client = RedisClient(configuration: configuration, on: loop)
        let mirror = RunLogMirror(engine: engine, node: node, log: RedisEventLog(client: client), leaseTTL: leaseTTL,
                                  policy: ReplicationPolicy(appendDeadline: appendDeadline)) {
            Console.error("eddy: \($0)")
        }
        try mirror.start()
        if let leases = mirror.leases {
            let takeover = RunTakeover(mirror: mirror, leases: leases, directory: directory, definition: { _ in definition() }) {
                Console.error("eddy: \($0)")
            }
            takeover.start()
            self.takeover.set(takeover)
        }
        return mirror
    }

    /// Stores what the mirror still holds (for at most 2 s), then closes every Redis connection and the loop.
    func stop(_ mirror: RunLogMirror?) async {
        await takeover.get()?.stop()
        await mirror?.stop(draining: .seconds(2))
        await mirror?.log.client.close()
        await relay.get()?.stop()
        await directory.stop()
        if let counters = mirror?.counters {
            Console.error("eddy: Redis mirror: \(counters.eventsStored) events stored, \(counters.commandsSent) commands, \(counters.eventsDropped) dropped from the queue, \(counters.eventsFromSQLite) copied from SQLite")
        }
        _ = await loop.shutdown()
    }
}

/// A value behind a mutex in a class, so a `Sendable` class can hold something set later.
final class MutexBox<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func get() -> Value { value.withLock { $0 } }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
}
