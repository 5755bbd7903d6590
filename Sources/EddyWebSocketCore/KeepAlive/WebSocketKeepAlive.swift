/// Keep-alive settings.
///
/// Defaults: a ping every 20 s, the connection fails with 1011 if its pong has not
/// arrived 20 s later (as Python `websockets` does), no idle timeout. With an idle
/// timeout, a connection that received no frame for that long is closed with 1001
/// (going away). `nil` disables a timer.
public struct WebSocketKeepAliveConfiguration: Sendable, Equatable {
    public var pingInterval: Duration?
    public var pongTimeout: Duration
    public var idleTimeout: Duration?

    public init(pingInterval: Duration? = .seconds(20), pongTimeout: Duration = .seconds(20), idleTimeout: Duration? = nil) {
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.idleTimeout = idleTimeout
    }

    public static let disabled = WebSocketKeepAliveConfiguration(pingInterval: nil, idleTimeout: nil)
}

/// The keep-alive decisions as a small state machine driven by `tick(now:configuration:)` with an
/// injected clock value (no clock is read inside, so tests are deterministic).
///
/// Guarantees: at most one ping is outstanding; a pong counts only if it echoes the
/// outstanding ping's payload (RFC 6455 §5.5.3); received frames count as activity at
/// the next tick, so timing resolution is the tick interval — tick at least every
/// `min(pingInterval, pongTimeout, idleTimeout) / 4`.
public struct WebSocketKeepAlive: Sendable {
    /// What `tick(now:configuration:)` decided; at most one per tick.
    public enum Action: Sendable, Equatable {
        case sendPing([UInt8])
        /// The outstanding ping was not answered in time: fail with 1011.
        case pongTimedOut
        /// Nothing was received for `idleTimeout`: close with 1001.
        case idleTimedOut
    }

    private var lastActivity: ContinuousClock.Instant?
    private var lastPing: ContinuousClock.Instant?
    private var outstanding: (payload: [UInt8], sentAt: ContinuousClock.Instant)?
    private var activitySinceTick = false
    private var matchingPongSinceTick = false
    private var counter: UInt64 = 0

    /// The settings are passed to every `tick` rather than kept: a connection's copy would
    /// cost every idle connection the bytes of a configuration all of them share.
    public init() {}

    /// Whether a ping is waiting for its pong.
    public var hasOutstandingPing: Bool { outstanding != nil }

    /// Whether something was received from the peer since the last `tick`.
    public var hasActivitySinceTick: Bool { activitySinceTick }

    /// Something was received from the peer.
    public mutating func recordActivity() { activitySinceTick = true }

    /// A pong arrived.
    public mutating func recordPong(_ payload: [UInt8]) {
        activitySinceTick = true
        if let outstanding, outstanding.payload == payload { matchingPongSinceTick = true }
    }

    public mutating func tick(now: ContinuousClock.Instant, configuration: WebSocketKeepAliveConfiguration) -> Action? {
        if lastActivity == nil { lastActivity = now; lastPing = now }
        if activitySinceTick { lastActivity = now; activitySinceTick = false }
        if matchingPongSinceTick { outstanding = nil; matchingPongSinceTick = false }
        if let outstanding, now - outstanding.sentAt >= configuration.pongTimeout {
            return .pongTimedOut
        }
        if let idle = configuration.idleTimeout, let lastActivity, now - lastActivity >= idle {
            return .idleTimedOut
        }
        if let interval = configuration.pingInterval, outstanding == nil, let lastPing, now - lastPing >= interval {
            counter &+= 1
            var payload: [UInt8] = []
            for shift in stride(from: 56, through: 0, by: -8) { payload.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
            outstanding = (payload, now)
            self.lastPing = now
            return .sendPing(payload)
        }
        return nil
    }
}
