public import EddyRooms
public import EddyWebSocket

/// Settings of a `DAGStreamGateway`. Every field has a default.
public struct DAGStreamConfiguration: Sendable {
    /// Tokens that may read and send commands. Empty: nobody may send commands.
    public var operatorTokens: Set<String> = []
    /// Tokens that may only read.
    public var viewerTokens: Set<String> = []
    /// Browser origins admitted besides the server's own (`http(s)://<Host>`). Clients that
    /// send no `Origin` (non-browsers) are admitted; any other origin gets 403 — the defence
    /// against cross-site WebSocket hijacking.
    public var allowedOrigins: Set<String> = []
    /// How often each stream gets a `heartbeat`, so browsers (which cannot ping) notice a
    /// dead link. Default 15 s.
    public var heartbeatInterval: Duration = .seconds(15)
    /// WebSocket pings to every stream and lobby connection, and how long a pong may take: a
    /// peer that stops answering (a black-holed link, a host gone without a FIN) is dropped
    /// with 1011 within `pingInterval + pongTimeout`, and its room membership freed. Default
    /// a ping every 20 s, 20 s to answer.
    public var keepAlive = WebSocketKeepAliveConfiguration()
    /// Bytes and messages a dashboard may fall behind by. A dashboard that falls further
    /// behind has its backlog replaced by one `snapshot` of the latest state once its
    /// connection drains: it never sees a stale state and never slows the engine.
    /// Default 1 MiB / 10,000 messages.
    public var outboxLimits = OutboxLimits(maxBytes: 1 << 20, maxMessages: 10_000)
    /// Commands a connection may send per second (token bucket, burst of the same size).
    /// Default 20.
    public var commandsPerSecond = 20
    /// When a run's events (and the lobby's messages) reach the dashboards' sockets. Default:
    /// coalesced, at most one burst every 16 ms (a frame of a 60 Hz display): an event after
    /// a quiet 16 ms goes out at the end of the loop iteration that receives it; events that
    /// come faster wait at most 16 ms (under load, the spacing below) and share
    /// one write per dashboard, which keeps a run's fan-out to many dashboards from spending
    /// a system call per event on each. When writing a burst takes a loop longer than 8 ms
    /// (thousands of dashboards), bursts are spaced by twice that time instead (at most
    /// 1 s). `.immediate` hands every event to the sockets as soon as it is logged.
    public var delivery: RoomDelivery = .coalesced(atMostEvery: .milliseconds(16))

    public init() {}
}
