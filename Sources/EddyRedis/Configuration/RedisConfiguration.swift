public import EddyRedisCore
public import EddyTLS

/// How an Eddy Redis client connects and how long it waits.
///
/// Guarantee: every wait a client makes is bounded by one of these deadlines, except a
/// command sent with no timeout on purpose (a blocking read such as `XREAD BLOCK 0`).
public struct RedisConfiguration: Sendable {
    public var endpoint: RedisEndpoint
    /// Covers the TCP (and TLS) connect and the login (`HELLO`/`AUTH`/`SELECT`). Default 5 s.
    public var connectTimeout: Duration
    /// How long a command's reply may take; when it passes, the connection is closed (the
    /// replies behind it can no longer be matched) and every command in flight fails. Checked
    /// a few times per timeout (at most every 250 ms). Default 5 s.
    public var commandTimeout: Duration
    /// How often a `RedisSubscriber` PINGs its otherwise silent connection, so that a server
    /// that stopped answering (a frozen process, a vanished host: the TCP connection looks
    /// open) is noticed within this plus `commandTimeout`. nil: never. Default 15 s.
    public var healthCheckInterval: Duration?
    /// Reconnect delays: from `initial`, doubling, at most `maximum`.
    public var backoff: RedisBackoff
    /// Bounds on what the reply parser accepts.
    public var limits: RESPLimits
    /// The client TLS context for `rediss://` (default: system trust store, full verification).
    public var tls: TLSContext?

    public init(endpoint: RedisEndpoint, connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(5),
                backoff: RedisBackoff = RedisBackoff(), limits: RESPLimits = RESPLimits(), tls: TLSContext? = nil,
                healthCheckInterval: Duration? = .seconds(15)) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.backoff = backoff
        self.limits = limits
        self.tls = tls
        self.healthCheckInterval = healthCheckInterval
    }
}

/// Exponential reconnect delays with jitter.
///
/// Guarantee: `delay(afterFailures:)` is between half and all of
/// `min(maximum, initial * 2^(failures-1))`, so reconnecting clients spread out and none
/// waits longer than `maximum`.
public struct RedisBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The wait before the next attempt after `failures` consecutive failures (1 or more).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = initial
        for _ in 1..<max(1, min(failures, 32)) where delay < maximum { delay *= 2 }
        delay = min(delay, maximum)
        return delay / 2 + delay / 2 * Double.random(in: 0...1)
    }
}
