public import EddyLoop
public import EddyRedis
public import EddyRooms
public import EddyWebSocket
import EddyShared

/// Rooms across Eddy processes ("nodes") through Redis pub/sub: a `RoomRegistry` whose
/// publications also reach the members of the same room on every other node.
///
/// How: `publish` delivers to this node's members directly (as `RoomRegistry.publish`
/// does) and publishes the message once to the Redis channel `<prefix><room>`, tagged with
/// this node's name. Each node keeps one subscriber connection (`PSUBSCRIBE <prefix>*`),
/// skips its own publications by node name, and publishes what other nodes sent into its
/// registry: framed once per node and handed to every loop's shard.
///
/// Guarantees:
/// - Messages from one publisher (a connection publishing from its loop) reach every member
///   on every node in publish order: locally through the registry's ordered delivery; to
///   other nodes through one Redis connection (pipelined, in call order) and Redis's
///   per-connection ordering. Messages from different publishers may interleave differently
///   on different nodes.
/// - A node never delivers its own publication twice.
/// - Local rooms never depend on Redis: when Redis is down (or reads slower than the node
///   publishes, so that the publisher connection's queue is above its high watermark),
///   local delivery goes on, other nodes miss what is published meanwhile (pub/sub is at
///   most once; the drops are counted and logged), and publishing to other nodes resumes on its own when Redis is
///   back (the publisher reconnects with backoff, the subscriber reconnects and subscribes again).
public final class RoomBridge: Sendable {
    public let registry: RoomRegistry
    /// This node's name (unique among the nodes that share a Redis).
    public let node: String
    private let channelPrefix: String
    private let loop: EventLoop
    private let publisher: RedisClient
    private let subscriber: RedisSubscriber
    private let log: @Sendable (String) -> Void
    private let state = Mutex(State())

    private struct State {
        var dispatcher: Task<Void, Never>?
        var readyWaiter: CheckedContinuation<Bool, Never>?
        var isReady = false
        var droppedInOutage = 0
        var dropped = 0
        var received = 0
    }

    /// A bridge for `registry` as node `node`, whose Redis connections live on `loop`.
    ///
    /// - Parameters:
    ///   - channelPrefix: Redis channels are `<prefix><room>`; nodes that share rooms share it.
    ///   - log: one line per change in the link to Redis (connected, lost, retrying, drops).
    public init(registry: RoomRegistry, node: String, redis configuration: RedisConfiguration, on loop: EventLoop,
                channelPrefix: String = "eddy:room:", log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.registry = registry
        self.node = node
        self.channelPrefix = channelPrefix
        self.loop = loop
        self.log = log
        self.publisher = RedisClient(configuration: configuration, on: loop) { change in log("redis publisher: \(change)") }
        self.subscriber = RedisSubscriber(configuration: configuration, on: loop, patterns: [Self.escaped(channelPrefix) + "*"])
    }

    /// Starts the subscriber and the publisher connection and waits (at most `timeout`) for
    /// the subscription to be confirmed; false if Redis could not be reached in time or the
    /// first attempt failed (the bridge keeps trying in the background, and local rooms
    /// work meanwhile).
    @discardableResult
    public func start(waitingUpTo timeout: Duration = .seconds(5)) async -> Bool {
        let dispatcher = Task(executorPreference: loop) { await self.dispatch() }
        state.withLock { $0.dispatcher = dispatcher }
        subscriber.start()
        _ = try? await publisher.send(RedisCommand("PING"))
        let timer = loop.schedule(after: timeout) { self.resumeReadyWaiter(false) }
        let ready = await withCheckedContinuation { continuation in
            let isReady = state.withLock { state in
                if state.isReady { return true }
                state.readyWaiter = continuation
                return false
            }
            if isReady { continuation.resume(returning: true) }
        }
        timer.cancel()
        if !ready { log("redis: not reachable yet; local rooms work, other nodes will be reached once it is") }
        return ready
    }

    /// Delivers `message` to `room`'s members here and on every other node; returns at once.
    public func publish(_ message: WebSocketMessage, to room: String) {
        registry.publish(registry.prepare(message), to: room)
        let command = RedisCommand("PUBLISH", arguments: [Array((channelPrefix + room).utf8),
                                                          RoomEnvelope(node: node, message: message).encoded])
        let publisher = self.publisher
        loop.execute {
            let sent = publisher.assumeIsolated { $0.sendWithoutWaiting(command) }
            self.count(sent: sent)
        }
    }

    /// Publications not sent to other nodes because Redis was unreachable; messages received
    /// from other nodes.
    public var counters: (dropped: Int, received: Int) { state.withLock { ($0.dropped, $0.received) } }

    /// Stops the subscriber and the publisher connection (before the loops stop).
    public func stop() async {
        await subscriber.stop()
        await publisher.close()
        let dispatcher = state.withLock { $0.dispatcher }
        await dispatcher?.value
    }

    private func count(sent: Bool) {
        let first = state.withLock { state -> Bool in
            if sent {
                state.droppedInOutage = 0
                return false
            }
            state.dropped += 1
            state.droppedInOutage += 1
            return state.droppedInOutage == 1
        }
        if first { log("redis: unavailable or congested; publications reach this node's members only until it is back") }
    }

    private func dispatch() async {
        for await event in subscriber.events {
            switch event {
            case .message(let channel, _, let payload):
                guard channel.hasPrefix(channelPrefix), let envelope = RoomEnvelope(decoding: payload),
                      envelope.node != node else { continue }
                state.withLock { $0.received += 1 }
                registry.publish(registry.prepare(envelope.message), to: String(channel.dropFirst(channelPrefix.count)))
            case .ready:
                log("redis subscriber: subscribed to \(channelPrefix)* as node \(node)")
                state.withLock { $0.isReady = true }
                resumeReadyWaiter(true)
            case .state(let change):
                log("redis subscriber: \(change)")
                // A refused first attempt: start need not wait out its deadline.
                if case .unavailable = change { resumeReadyWaiter(false) }
            }
        }
    }

    private func resumeReadyWaiter(_ ready: Bool) {
        state.withLock { state in
            let waiter = state.readyWaiter
            state.readyWaiter = nil
            return waiter
        }?.resume(returning: ready)
    }

    /// `prefix` with PSUBSCRIBE's glob characters escaped.
    static func escaped(_ prefix: String) -> String {
        var escaped = ""
        for character in prefix {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
