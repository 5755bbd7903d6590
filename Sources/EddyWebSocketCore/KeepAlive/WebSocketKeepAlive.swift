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

    // Instants as nanoseconds since `Self.epoch`, `Self.none` for "not yet": 8 bytes each
    // instead of an optional 16-byte `Instant` (every connection keeps these).
    private var lastActivity = Self.none
    private var lastPing = Self.none
    /// When the outstanding ping was sent (`Self.none`: no ping is outstanding). Its payload
    /// is `counter` in big-endian bytes, so it is not kept.
    private var outstandingSentAt = Self.none
    private var counter: UInt64 = 0
    private var activitySinceTick = false
    private var matchingPongSinceTick = false

    /// The settings are passed to every `tick` rather than kept: a connection's copy would
    /// cost every idle connection the bytes of a configuration all of them share.
    public init() {}

    /// Whether a ping is waiting for its pong.
    public var hasOutstandingPing: Bool { outstandingSentAt != Self.none }

    /// Whether something was received from the peer since the last `tick`.
    public var hasActivitySinceTick: Bool { activitySinceTick }

    /// Something was received from the peer.
    public mutating func recordActivity() { activitySinceTick = true }

    /// A pong arrived.
    public mutating func recordPong(_ payload: [UInt8]) {
        activitySinceTick = true
        if hasOutstandingPing, payload.elementsEqual(Self.payload(counter)) { matchingPongSinceTick = true }
    }

    public mutating func tick(now instant: ContinuousClock.Instant, configuration: WebSocketKeepAliveConfiguration) -> Action? {
        let now = Self.nanoseconds(instant)
        if lastActivity == Self.none { lastActivity = now; lastPing = now }
        if activitySinceTick { lastActivity = now; activitySinceTick = false }
        if matchingPongSinceTick { outstandingSentAt = Self.none; matchingPongSinceTick = false }
        if hasOutstandingPing, now - outstandingSentAt >= Self.nanoseconds(configuration.pongTimeout) {
            return .pongTimedOut
        }
        if let idle = configuration.idleTimeout, now - lastActivity >= Self.nanoseconds(idle) {
            return .idleTimedOut
        }
        if let interval = configuration.pingInterval, !hasOutstandingPing, now - lastPing >= Self.nanoseconds(interval) {
            counter &+= 1
            outstandingSentAt = now
            lastPing = now
            return .sendPing(Self.payload(counter))
        }
        return nil
    }

    /// A ping's payload: its number, 8 bytes big-endian.
    private static func payload(_ counter: UInt64) -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(8)
        for shift in stride(from: 56, through: 0, by: -8) { payload.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
        return payload
    }

    private static let none = Int64.min
    /// Stored times and durations are clamped to ±146 years, so that the difference of two
    /// never overflows.
    private static let limit = Int64.max / 2
    /// The instant the stored times count from (the first use in this process).
    private static let epoch = ContinuousClock.now

    private static func nanoseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        nanoseconds(instant - epoch)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? -limit : limit }
        let clamped = min(max(scaled, -limit), limit) // so adding < 1 s of nanoseconds cannot overflow
        return min(max(clamped + attoseconds / 1_000_000_000, -limit), limit)
    }
}
