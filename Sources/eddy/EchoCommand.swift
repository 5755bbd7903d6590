import ArgumentParser
import EddyHTTP
import EddyLoop
import EddyMetrics
import EddyNet
import EddyRooms
import EddyRoomsRedis
import EddyWebSocket

/// `eddy echo`: a WebSocket echo server for conformance suites and benchmarks.
/// Every text and binary message is echoed as is; permessage-deflate is on and every
/// limit is at its default unless raised by a flag. Keep these flags stable.
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run a WebSocket echo server (prints 'LISTENING <port>' once bound; stops on SIGINT/SIGTERM); wss:// with --tls-cert and --tls-key."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 9001
    @Option(help: "Event loops (default: one per core).") var loops = EventLoopGroup.coreCount
    @Option(help: "Largest message accepted, in bytes (default 1 MiB).") var maxMessageSize: Int?
    @Option(help: "Most fragments per message (default: Eddy's default).") var maxFragments: Int?
    @Flag(help: "Turn permessage-deflate off.") var noDeflate = false
    @Option(help: "Seconds between keep-alive pings (0: none).") var pingInterval = 20.0
    @Flag(help: "Pub/sub instead of echo: every connection joins one room and every message is published to it, sender included.")
    var broadcast = false
    @Option(help: "With --broadcast: what a subscriber's outbox does when it is full (drop-oldest, drop-newest, close).")
    var outboxPolicy = "drop-oldest"
    @Option(help: "With --broadcast: bytes a subscriber's outbox may hold.") var outboxBytes = 1 << 20
    @Option(help: "With --broadcast: when a publish reaches the subscribers: per-iteration (held to the end of the loop iteration, then each subscriber's share in one call), or immediate (as the loop runs it).")
    var delivery = "per-iteration"
    @OptionGroup var connections: ConnectionLimitOptions
    @OptionGroup var tls: TLSOptions
    @OptionGroup var redis: RedisOptions
    @Flag(help: "Turn metrics off (the per-loop tallies and their folding), to compare in benchmarks.")
    var noMetrics = false
    @Flag(help: "Echo from a Swift task per connection (for try await … in socket.messages) instead of a responder on the loop (no task per connection); to compare the two.")
    var taskPerConnection = false
    @OptionGroup var logging: LogOptions

    func validate() throws {
        _ = try Self.policy(named: outboxPolicy)
        _ = try Self.delivery(named: delivery)
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "eddy.echo")
        var connection = WebSocketConfiguration()
        if let maxMessageSize {
            connection.maxMessageSize = maxMessageSize
            connection.maxFrameSize = max(connection.maxFrameSize, maxMessageSize)
        }
        if let maxFragments { connection.maxFragments = maxFragments }
        connection.keepAlive.pingInterval = pingInterval > 0 ? .milliseconds(Int(pingInterval * 1000)) : nil
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.deflate.isEnabled = !noDeflate
        let metrics = PrometheusExposition.start(enabled: !noMetrics)
        let group = try EventLoopGroup(loopCount: loops)
        // Recorded and folded as in `eddy demo`; this benchmark server exposes no endpoint.
        if metrics { TallyFolder().startFolding(on: group) }
        let endpoint = WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), connection: connection)
        var route: WebSocketRoute
        var bridge: RoomBridge?
        if redis.redis != nil && !broadcast { throw ValidationError("--redis needs --broadcast (echo has no rooms)") }
        if broadcast {
            // Broadcast frames are compressed once for clients that accept no context
            // takeover; ask for it so compressed clients can share them.
            handshake.deflate.noContextTakeover = true
            let rooms = RoomRegistry(group: group, compression: noDeflate ? nil : handshake.deflate,
                                     delivery: try Self.delivery(named: delivery))
            let policy = try Self.policy(named: outboxPolicy)
            let limits = OutboxLimits(maxBytes: outboxBytes)
            bridge = try await redis.startBridge(for: rooms, on: group.loops[0])
            let publish: @Sendable (WebSocketMessage) -> Void
            if let bridge { publish = { bridge.publish($0, to: "broadcast") } } else { publish = { rooms.publish($0, to: "broadcast") } }
            route = WebSocketRoute(endpoint: endpoint) { socket in
                try await rooms.serve(socket, in: "broadcast", policy: policy, limits: limits) { _ in
                    for try await message in socket.messages { publish(message) }
                }
            }
        } else if taskPerConnection {
            route = WebSocketRoute(endpoint: endpoint) { socket in
                for try await message in socket.messages { try await socket.send(message) }
            }
        } else {
            route = WebSocketRoute(endpoint: endpoint, responder: EchoResponder())
        }
        // Kept for the drain: SIGTERM closes every connection with 1001 (going away).
        let open = OpenWebSockets()
        route.openSockets = open
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        for pattern in ["/", "/{a}", "/{a}/{b}"] { try router.addUpgrade(pattern, route) }
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let context = try tls.serverContext()
        // Over TLS a refused connection has no session to carry an HTTP answer: it is closed.
        let limits = context == nil ? connections.limits.answeringOverHTTP() : connections.limits
        try await runServer(group: group, host: host, port: port, limits: limits, tls: context,
                            logger: logger, shutdownTimeout: logging.shutdownTimeout,
                            beforeShutdown: { [bridge] in
                                await open.closeAll()
                                await bridge?.stop()
                            },
                            serve: serving(tls: context, logger: logger, { try await server.serve($0) }, orTLS: { try await server.serve($0) }))
    }

    static func policy(named name: String) throws -> OutboxPolicy {
        switch name {
        case "drop-oldest": return .dropOldest
        case "drop-newest": return .dropNewest
        case "close": return .closeSlowConsumer
        default: throw ValidationError("unknown --outbox-policy '\(name)' (drop-oldest, drop-newest, close)")
        }
    }

    static func delivery(named name: String) throws -> RoomDelivery {
        switch name {
        case "immediate": return .immediate
        case "per-iteration": return .perIteration
        default: throw ValidationError("unknown --delivery '\(name)' (per-iteration, immediate)")
        }
    }
}

/// Echoes every message as it arrives, on the connection's loop. The socket stops reading
/// while the peer does not read its echoes (`WebSocketResponder`'s backpressure).
struct EchoResponder: WebSocketResponder {
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        // Safe to drop: a failure means the connection is closing; its status is already recorded.
        _ = try? socket.sendWithoutWaiting(message)
    }

    /// Most messages come whole in one frame: echoed from the receive buffer, no copy kept.
    func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {
        // Safe to drop: as above (the bytes of a lent text message are valid UTF-8).
        _ = try? socket.sendWithoutWaiting(bytes, as: kind)
    }
}
