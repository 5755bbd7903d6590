public import EddyDAG
public import EddyHTTP
import EddyLoop
import EddyRooms
public import Logging
public import EddyWebSocket
import struct Synchronization.Atomic
import EddyShared

/// Serves DAG runs to dashboards over WebSocket: `GET /api/dags` lists runs (token required,
/// like the streams),
/// `GET /api/dags/stream` streams that listing live (the lobby),
/// `GET /api/dags/{dagId}/stream` streams one run, and `GET /api/dags/{dagId}/history` and
/// `/events` serve its past from the log (`HistoryRoutes`).
///
/// Guarantees:
/// - A new stream starts with a `snapshot`; `?since=<seq>&epoch=<epoch>` replays exactly the
///   events after `seq` from the event log when it still holds them in that epoch (a
///   `snapshot` otherwise), then goes live with no gap and no duplicate (the engine's
///   subscription is atomic with publication).
/// - Every message is an envelope-wrapped event (`docs/protocol.md`); a `heartbeat`
///   follows every `heartbeatInterval`.
/// - Only operators may send commands (`human_decision`, `pause_execution`,
///   `resume_execution`, `cancel_execution`); each gets a `command_result`. A viewer's
///   command is answered `rejected`; over the rate limit, `rejected` too.
/// - Before the upgrade: 401 without a valid token, 403 for a foreign origin, 404 for an
///   unknown run.
/// - A dashboard that falls behind by more than the outbox limits is caught up, not
///   closed: its backlog of events is discarded and, once its connection drains, it gets
///   one `snapshot` of the latest state (every node's newest status: conflation of the
///   whole run), then live events from the snapshot's `seq` on. It never sees a stale
///   state or a `seq` gap, and the engine never waits for it. `command_result`s are never
///   discarded.
/// - The lobby starts with a `runs` listing, then reports every `run_started`,
///   `run_finished` and `run_removed`, each once (taken atomically with the engine's
///   publication), plus heartbeats. A lobby client that falls behind gets a fresh `runs`
///   listing instead of its backlog.
/// - `closeAll()` (graceful shutdown) closes every open stream with 1001.
/// - With `remoteRuns` (runs across nodes), runs other nodes own are listed and streamed
///   too, with the same snapshot, `since` and no-gap guarantees (`DAGStreamGateway+Remote`);
///   operators' commands are forwarded to the owner, whose engine decides them.
public final class DAGStreamGateway: Sendable {
    public let engine: DAGEngine
    public let configuration: DAGStreamConfiguration
    /// Hears refused upgrades (`debug`) and failures to read the log (`error`).
    public let logger: Logger
    /// Runs other nodes own (nil: this node's runs only).
    public let remoteRuns: (any RemoteRuns)?
    let access: StreamAccess
    /// Open streams, and whether `closeAll` has begun (streams that open later are closed at once).
    let open = Mutex(OpenStreams())

    /// The open streams, whether `closeAll` has begun, and the commands being answered.
    struct OpenStreams {
        var sockets: [ObjectIdentifier: WebSocket] = [:]
        var closing = false
        /// Commands taken from a socket whose reply has not been queued yet.
        var commandsInFlight = 0
        /// `closeAll` waiting for `commandsInFlight` to reach 0.
        var commandsDrained: [CheckedContinuation<Void, Never>] = []
    }
    let joined = Atomic<Int>(0)
    let frames: FrameCache
    /// One room per watched run and one for the lobby; each fed by one engine subscription.
    let rooms: RoomRegistry
    let feeds = RoomFeeds()
    /// The feeds of remote runs, by run (the newest one started for each).
    let remoteFeeds = Mutex<[String: RemoteRunFeed]>([:])

    public init(engine: DAGEngine, configuration: DAGStreamConfiguration = DAGStreamConfiguration(),
                logger: Logger = Logger(label: "eddy.dag-stream"), remoteRuns: (any RemoteRuns)? = nil) {
        self.logger = logger
        self.remoteRuns = remoteRuns
        self.engine = engine
        self.configuration = configuration
        self.rooms = RoomRegistry(delivery: configuration.delivery)
        self.access = StreamAccess(configuration: configuration)
        self.frames = FrameCache(compressor: BroadcastCompressor(configuration: Self.handshakeConfiguration.deflate))
    }

    /// Adds the gateway's routes to `router`.
    public func install(into router: inout HTTPRouter<WebSocketRoute>) throws {
        try router.add(.get, "/api/dags") { [engine, access, logger, remoteRuns] request, _ in
            // The same rule as the streams: a viewer or operator token, a trusted origin.
            if case .deny(let status, let reason) = access.decide(request) { return Self.refusal(status, reason) }
            return Self.listing(engine, remote: remoteRuns, logger: logger)
        }
        try router.add(.get, "/api/session") { [access] request, _ in
            // What this token may do, so a dashboard can hide the controls a viewer could not
            // use. Informational only: every command is still checked on the stream.
            switch access.decide(request) {
            case .deny(let status, let reason): return Self.refusal(status, reason)
            case .allow(let role): return Self.session(role)
            }
        }
        try HistoryRoutes.install(into: &router, engine: engine, access: access)
        let lobbyHook = WebSocketUpgradeHook { [access] request, _ in
            if case .deny(let status, let reason) = access.decide(request) { return .reject(Self.refusal(status, reason)) }
            return .accept(extraHeaders: HTTPHeaders())
        }
        let handshake = Self.handshakeConfiguration
        let hook = WebSocketUpgradeHook { [access, engine, remoteRuns] request, parameters in
            if case .deny(let status, let reason) = access.decide(request) { return .reject(Self.refusal(status, reason)) }
            // Safe to drop: an unknown run is the expected failure, and its answer is this 404.
            guard let dagID = parameters["dagId"],
                  (try? engine.state(runID: dagID)) != nil || remoteRuns?.owner(of: dagID) != nil else {
                return .reject(.error(.notFound))
            }
            return .accept(extraHeaders: HTTPHeaders())
        }
        var connection = WebSocketConfiguration()
        connection.maxMessageSize = 64 * 1024 // commands are small
        connection.maxFrameSize = 64 * 1024
        connection.keepAlive = configuration.keepAlive
        var lobbyRoute = WebSocketRoute(
            endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), hook: lobbyHook, connection: connection)
        ) { [self] socket, _ in
            try await self.lobby(socket)
        }
        lobbyRoute.logger = logger
        try router.addUpgrade("/api/dags/stream", lobbyRoute)
        var runRoute = WebSocketRoute(
            endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), hook: hook, connection: connection)
        ) { [self] socket, context in
            try await self.stream(socket, context)
        }
        runRoute.logger = logger
        try router.addUpgrade("/api/dags/{dagId}/stream", runRoute)
    }

    /// A 401/403 before any stream or listing, closing the connection.
    static func refusal(_ status: HTTPStatus, _ reason: String) -> HTTPResponse {
        var response = HTTPResponse.text("\(status.code) \(reason)\n", status: status)
        response.headers.add(name: "Connection", value: "close")
        return response
    }

    /// Subprotocol `eddy.dag.v1`; permessage-deflate with `server_no_context_takeover`, so that
    /// every compressing dashboard can share one compressed frame per event.
    static var handshakeConfiguration: WebSocketServerHandshakeConfiguration {
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.subprotocols = ["eddy.dag.v1"]
        handshake.originPolicy = .any // checked by the hook, which knows the server's own origin
        handshake.deflate.noContextTakeover = true
        return handshake
    }

    /// `{"runs":[{"dag_id":…,"finished":…,"status":…,"last_seq":…},…]}`
    /// `{"role":"operator"}` or `{"role":"viewer"}`.
    static func session(_ role: StreamRole) -> HTTPResponse {
        let body = role == .operatorRole ? #"{"role":"operator"}"# : #"{"role":"viewer"}"#
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store",
                                                   "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"],
                            body: Array(body.utf8))
    }

    static func listing(_ engine: DAGEngine, remote: (any RemoteRuns)?, logger: Logger) -> HTTPResponse {
        let runs: [RunSummary]
        do {
            runs = Self.withRemote(try engine.runSummaries(), remote)
        } catch {
            logger.error("runs listing: reading the event log failed", metadata: ["error": "\(error)"])
            return .error(.internalServerError, close: false)
        }
        var writer = JSONWriter()
        writer.writeRaw("{\"runs\":[")
        for (i, run) in runs.enumerated() {
            if i > 0 { writer.writeRaw(",") }
            LobbyMessage.write(run, into: &writer)
        }
        writer.writeRaw("]}")
        // The listing may be fetched with `?token=`: keep it out of caches and Referers.
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store",
                                                   "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"],
                            body: writer.bytes)
    }

    /// Streams open now (lobby and run streams, from the upgrade on).
    public var openStreams: Int { open.withLock { $0.sockets.count } }

    /// Run streams that have joined their run: they have their snapshot or replay queued and
    /// receive every later event.
    public var joinedStreams: Int { joined.load(ordering: .relaxed) }

    /// Replaces the tokens that admit new streams and listings (rotation without a restart):
    /// from now on only these are accepted. Streams already open keep the role they were
    /// admitted with until they close.
    public func replaceTokens(operatorTokens: Set<String>, viewerTokens: Set<String>) {
        access.replaceTokens(operators: operatorTokens, viewers: viewerTokens)
    }

    /// How many operator and viewer tokens admit new streams now.
    public var tokenCounts: (operators: Int, viewers: Int) { access.tokenCounts }

    /// Runs and lobbies with a live feed: one engine subscription each, however many
    /// dashboards watch (for diagnostics and tests).
    public var feedCount: Int { feeds.count }

    /// Closes every open stream with 1001 (going away) and waits for the closing
    /// handshakes (each bounded by the close timeout). For graceful shutdown.
    /// Commands being answered when it is called get their reply queued first (the close
    /// frame follows it on the socket); commands read after it are not sent to the engine.
    /// Streams whose upgrade completes afterwards are closed the same way as they start.
    public func closeAll(reason: String = "server shutting down") async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = open.withLock { open -> Bool in
                open.closing = true
                guard open.commandsInFlight > 0 else { return true }
                open.commandsDrained.append(continuation)
                return false
            }
            if drained { continuation.resume() }
        }
        // Events still waiting for their burst go before the close frames.
        await rooms.flushPending()
        let sockets = open.withLock { Array($0.sockets.values) }
        await WebSocket.close(sockets, code: .goingAway, reason: reason)
    }

    /// Counts a command in, unless `closeAll` has begun (false: it is not run).
    func beginCommand() -> Bool {
        open.withLock { open in
            guard !open.closing else { return false }
            open.commandsInFlight += 1
            return true
        }
    }

    /// Counts a command out once its reply is queued, releasing `closeAll` after the last.
    func endCommand() {
        let waiters = open.withLock { open -> [CheckedContinuation<Void, Never>] in
            open.commandsInFlight -= 1
            guard open.commandsInFlight == 0 else { return [] }
            defer { open.commandsDrained = [] }
            return open.commandsDrained
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Records an open stream; false once `closeAll` has begun.
    func register(_ socket: WebSocket) -> Bool {
        open.withLock { open in
            guard !open.closing else { return false }
            open.sockets[ObjectIdentifier(socket)] = socket
            return true
        }
    }

    /// The room of one run's dashboards (a run id cannot spell the lobby's room).
    static func runRoom(_ dagID: String) -> String { "run/" + dagID }
    static let lobbyRoom = "lobby"

    /// One lobby connection: the listing, then run lifecycle events, until either side closes.
    private func lobby(_ socket: WebSocket) async throws {
        guard register(socket) else {
            _ = await socket.close(code: .goingAway, reason: "server shutting down")
            return
        }
        defer { _ = open.withLock { $0.sockets.removeValue(forKey: ObjectIdentifier(socket)) } }
        let engine = self.engine
        let rooms = self.rooms
        let logger = self.logger
        let remoteRuns = self.remoteRuns
        let room = Self.lobbyRoom
        // Lobby messages a listing already reflects (the join's, or a catch-up's) are skipped.
        let floor = MemberFloor()
        let outbox = Outbox(socket: socket, policy: .catchUp, limits: configuration.outboxLimits) {
            let listing: LobbyMessage
            do {
                listing = Self.withRemote(try engine.lobbyListing(), remoteRuns)
            } catch {
                logger.error("lobby catch-up: reading the event log failed", metadata: ["error": "\(error)"])
                return nil
            }
            floor.raise(to: Int64(listing.serial))
            return Self.frame(listing)
        }
        let interval = configuration.heartbeatInterval
        let loop = socket.eventLoop
        try feeds.retain(room) {
            try LobbyFeed(room: room, engine: engine, rooms: rooms, heartbeatInterval: interval, remote: remoteRuns, on: loop)
        }
        defer { feeds.release(room) }
        try await rooms.serve(outbox, in: room, floor: floor, startingAt: {
            let listing = Self.withRemote(try engine.lobbyListing(), remoteRuns)
            outbox.offer(frame: Self.frame(listing))
            return Int64(listing.serial)
        }) {
            // The lobby takes no commands; reading keeps the close handshake and pings going.
            for try await _ in socket.messages {}
        }
    }

    /// One dashboard connection.
    private func stream(_ socket: WebSocket, _ context: WebSocketRoute.Context) async throws {
        guard register(socket) else {
            _ = await socket.close(code: .goingAway, reason: "server shutting down")
            return
        }
        defer { _ = open.withLock { $0.sockets.removeValue(forKey: ObjectIdentifier(socket)) } }
        guard let dagID = context.parameters["dagId"], case .allow(let role) = access.decide(context.request) else { return }
        let resume = ResumePoint(context.request)
        // Safe to drop: a run this engine does not know may be another node's.
        if let remoteRuns, let owner = remoteRuns.owner(of: dagID), Self.servesRemote(local: try? engine.state(runID: dagID)) {
            return try await remoteStream(socket, dagID: dagID, owner: owner, resume: resume, role: role, source: remoteRuns)
        }
        let engine = self.engine
        let frames = self.frames
        let rooms = self.rooms
        let logger = self.logger
        let room = Self.runRoom(dagID)
        // Events up to `floor` are in what the dashboard already has (its join, or the last
        // catch-up snapshot); the run's room gives it only later ones.
        let floor = MemberFloor()
        let outbox = Outbox(socket: socket, policy: .catchUp, limits: configuration.outboxLimits) {
            let snapshot: EventEnvelope
            do {
                snapshot = try engine.snapshot(runID: dagID)
            } catch {
                logger.error("stream catch-up: snapshot failed", metadata: ["run_id": "\(dagID)", "error": "\(error)"])
                return nil
            }
            floor.raise(to: snapshot.seq)
            return frames.prepare(snapshot).frame(for: socket)
        }
        let interval = configuration.heartbeatInterval
        let loop = socket.eventLoop
        try feeds.retain(room) {
            try RunFeed(runID: dagID, room: room, engine: engine, frames: frames, rooms: rooms,
                        heartbeatInterval: interval, on: loop)
        }
        defer { feeds.release(room) }
        let maxReplay = configuration.outboxLimits.maxMessages
        try await rooms.serve(outbox, in: room, floor: floor, startingAt: {
            try Self.bringToHead(outbox, runID: dagID, resume: resume, maxReplay: maxReplay, engine: engine, frames: frames)
        }) {
            joined.add(1, ordering: .relaxed)
            defer { joined.subtract(1, ordering: .relaxed) }
            try await serveCommands(socket, outbox: outbox, dagID: dagID, role: role)
        }
    }

    /// Queues on `outbox` what brings a joining dashboard to the run's head, and returns the
    /// head's `seq`: the logged events after its resume point when the log still holds them
    /// in its epoch, a snapshot otherwise. A replay longer than `maxReplay` events is replaced
    /// by a snapshot too (it would only overflow the outbox, and reading it would hold the
    /// loop). Runs on the dashboard's loop, at its join into the run's room.
    private static func bringToHead(_ outbox: Outbox, runID: String, resume: ResumePoint?, maxReplay: Int,
                                    engine: DAGEngine, frames: FrameCache) throws(DAGEngineError) -> Int64 {
        let store = try engine.state(runID: runID)
        let windowBits = outbox.socket.sharedCompressionWindowBits
        if let resume, resume.epoch == store.epoch, resume.since <= store.seq, store.seq - resume.since <= Int64(maxReplay) {
            // Exactly (since, head]: the hub has published up to its head, and the run's feed
            // publishes every later event. (Reading past the head would let a later catch-up
            // snapshot at the head leave a gap.)
            if resume.since < store.seq {
                // The log's bytes as stored: framed like the live events, never decoded.
                for event in try engine.log.encodedEvents(runID: runID, after: resume.since, upTo: store.seq) {
                    outbox.offer(frame: frames.prepared(forLogged: event).frame(forSharedWindowBits: windowBits))
                }
            }
        } else {
            outbox.offer(frame: frames.prepare(store.snapshotEnvelope(ts: engine.log.currentTime)).frame(forSharedWindowBits: windowBits))
        }
        return store.seq
    }

    /// Answers the dashboard's commands until it closes: operators' go to the engine, the
    /// rest (and those over the rate limit) are rejected.
    private func serveCommands(_ socket: WebSocket, outbox: Outbox, dagID: String, role: StreamRole) async throws {
        try await answerCommands(socket, outbox: outbox, role: role, refuse: { bytes, reason in
            // Safe to drop: the seq only positions the refusal; a run unknown here reads as 0.
            let head = (try? engine.state(runID: dagID).seq) ?? 0
            return rejection(bytes, dagID: dagID, epoch: engine.log.epoch, seq: head, reason: reason)
        }, apply: { bytes in
            await engine.handleClientMessage(bytes, runID: dagID)
        })
    }

    /// The one command loop of local and remote runs: a command over the rate limit, from a
    /// viewer, or read after `closeAll` is answered by `refuse`; an operator's goes to
    /// `apply`. Every answer is queued keyed, so a dashboard that is behind still gets each.
    func answerCommands(_ socket: WebSocket, outbox: Outbox, role: StreamRole,
                        refuse: ([UInt8], String) -> EventEnvelope,
                        apply: ([UInt8]) async -> EventEnvelope) async throws {
        var bucket = TokenBucket(perSecond: configuration.commandsPerSecond)
        var replies = 0
        for try await message in socket.messages {
            guard case .text(let text) = message else { continue }
            let bytes = Array(text.utf8)
            let reply: EventEnvelope
            var inFlight = false
            if !bucket.take(now: .now) {
                reply = refuse(bytes, "rate limit: \(configuration.commandsPerSecond) commands per second")
            } else if role != .operatorRole {
                reply = refuse(bytes, "viewers may not send commands")
            } else if !beginCommand() {
                reply = refuse(bytes, "server shutting down")
            } else {
                inFlight = true
                reply = await apply(bytes)
            }
            CommandMetrics.record(reply)
            replies += 1
            outbox.offer(frame: Self.frame(reply), key: "reply-\(replies)")
            if inFlight { endCommand() }  // after the reply is queued: closeAll may close now
        }
    }

    /// A `command_result` rejecting the command in `bytes` (or the decoder's error), at
    /// `epoch`/`seq` of the run.
    func rejection(_ bytes: [UInt8], dagID: String, epoch: Int64, seq: Int64, reason: String) -> EventEnvelope {
        let ts = engine.log.currentTime
        do {
            let command = try ProtocolDecoder.decodeCommand(bytes)
            let result = CommandResult(commandID: command.commandID, status: .rejected, reason: reason)
            return EventEnvelope(dagID: dagID, epoch: epoch, seq: seq, ts: ts, event: .commandResult(result))
        } catch {
            return EventEnvelope(dagID: dagID, epoch: epoch, seq: seq, ts: ts,
                                 event: .error(ServerEvent.ErrorEvent(code: "bad_message", message: error.description)))
        }
    }

    static func frame(_ envelope: EventEnvelope) -> [UInt8] {
        PreparedMessage(utf8Text: envelope.jsonBytes).uncompressed
    }

    static func frame(_ message: LobbyMessage) -> [UInt8] {
        PreparedMessage(utf8Text: message.jsonBytes).uncompressed
    }
}

/// A token bucket: `perSecond` tokens per second, bursts up to `perSecond`.
struct TokenBucket {
    let perSecond: Int
    var tokens: Double
    var last: ContinuousClock.Instant?

    init(perSecond: Int) {
        self.perSecond = max(1, perSecond)
        self.tokens = Double(max(1, perSecond))
    }

    mutating func take(now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = Double((now - last) / .milliseconds(1)) / 1000
            tokens = min(Double(perSecond), tokens + elapsed * Double(perSecond))
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
