public import EddyLoop
public import EddyRedisCore

/// A Redis client that keeps one pipelined connection and reconnects when it is lost:
/// the connection to use for ordinary commands.
///
/// Guarantees:
/// - At most one connection at a time, made on first use and again after a loss; attempts
///   are spaced by `RedisConfiguration.backoff` (exponential, with jitter). Between attempts
///   commands fail at once with `RedisError.unavailable` naming when the next attempt is,
///   instead of waiting: a caller never waits longer than one connect deadline.
/// - Commands are never retried on a new connection (a command in flight when the
///   connection broke may or may not have run): the caller decides.
/// - Commands given to `sendWithoutWaiting` on the client's loop go out in call order.
public actor RedisClient {
    public nonisolated let eventLoop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.asUnownedSerialExecutor() }
    public nonisolated let configuration: RedisConfiguration

    private var connection: RedisConnection?
    private var connecting: Task<RedisConnection, any Error>?
    private var failures = 0
    private var nextAttempt: ContinuousClock.Instant?
    /// Why the last attempt failed, in full (for the state change), and without the
    /// endpoint that `RedisError.unavailable` already names (for the error thrown while
    /// backing off, which names it once).
    private var lastFailure = ""
    private var lastReason = ""
    private var isClosed = false
    private let onStateChange: (@Sendable (RedisConnectionState) -> Void)?

    /// - Parameter onStateChange: told (on the loop) when a connection is made or lost, for logs.
    public init(configuration: RedisConfiguration, on loop: EventLoop,
                onStateChange: (@Sendable (RedisConnectionState) -> Void)? = nil) {
        self.eventLoop = loop
        self.configuration = configuration
        self.onStateChange = onStateChange
    }

    /// Sends `command` on the current connection (connecting first if needed) and returns its reply.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await currentConnection().send(command)
    }

    /// Sends `command` with its own deadline (nil: none).
    public func send(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        try await currentConnection().send(command, timeout: timeout)
    }

    /// Sends several commands in one pipeline and returns their replies in order; an error
    /// reply is returned as `.error`, not thrown.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await currentConnection().pipeline(commands)
    }

    /// Sends `command` without waiting for its reply, if a connection is up; otherwise
    /// starts reconnecting (unless backing off) and returns false: the command is dropped.
    /// Call on the client's loop (`assumeIsolated`) to keep call order.
    @discardableResult
    public func sendWithoutWaiting(_ command: RedisCommand) -> Bool {
        if let connection, !connection.isClosed {
            return connection.assumeIsolated { $0.sendWithoutWaiting(command) }
        }
        if connecting == nil, !isClosed, nextAttempt.map({ ContinuousClock.now >= $0 }) ?? true {
            connecting = startConnecting()
        }
        return false
    }

    /// Closes the connection and stops reconnecting.
    public func close() async {
        isClosed = true
        connecting?.cancel()
        await connection?.close()
        connection = nil
    }

    private func currentConnection() async throws -> RedisConnection {
        if let connection, !connection.isClosed { return connection }
        guard !isClosed else { throw RedisError.connectionClosed("the client was closed") }
        if let connecting { return try await connecting.value }
        if let nextAttempt, ContinuousClock.now < nextAttempt {
            throw RedisError.unavailable(endpoint: configuration.endpoint.description, reason: lastReason,
                                         retryIn: nextAttempt - ContinuousClock.now)
        }
        let attempt = startConnecting()
        connecting = attempt
        return try await attempt.value
    }

    private func startConnecting() -> Task<RedisConnection, any Error> {
        let (configuration, loop) = (self.configuration, eventLoop)
        return Task {
            do {
                let made = try await RedisConnection.connect(configuration, on: loop)
                self.connected(made)
                return made
            } catch {
                self.failed(error)
                throw error
            }
        }
    }

    private func connected(_ made: RedisConnection) {
        connecting = nil
        if isClosed {
            Task { await made.close() }
            return
        }
        connection = made
        failures = 0
        nextAttempt = nil
        onStateChange?(.connected(endpoint: configuration.endpoint.description))
        Task {
            let reason = await made.waitUntilClosed()
            self.lost(made, reason)
        }
    }

    private func failed(_ error: any Error) {
        connecting = nil
        failures += 1
        let delay = configuration.backoff.delay(afterFailures: failures)
        nextAttempt = .now + delay
        lastFailure = "\(error)"
        if case RedisError.unavailable(_, let reason, _) = error { lastReason = reason } else { lastReason = lastFailure }
        onStateChange?(.unavailable(reason: lastFailure, retryIn: delay))
    }

    private func lost(_ lostConnection: RedisConnection, _ reason: RedisError) {
        guard connection === lostConnection, !isClosed else { return }
        connection = nil
        onStateChange?(.disconnected(reason: "\(reason)"))
    }
}

/// A change in a client's or subscriber's link to Redis, for logs and metrics.
public enum RedisConnectionState: Sendable, CustomStringConvertible {
    /// A connection was made and logged in; `endpoint` has its password redacted.
    case connected(endpoint: String)
    /// The connection was lost, for `reason`; the next use (or the subscriber) reconnects.
    case disconnected(reason: String)
    /// A connection attempt failed; the next one is not made before `retryIn`.
    case unavailable(reason: String, retryIn: Duration)

    public var description: String {
        switch self {
        case .connected(let endpoint): return "connected to \(endpoint)"
        case .disconnected(let reason): return "lost the connection (\(reason))"
        case .unavailable(let reason, let retryIn):
            return "\(reason); retrying in \(retryIn.secondsText)"
        }
    }
}

extension Duration {
    /// "80 ms" or "2.3 s": for log lines.
    var secondsText: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        return "\(milliseconds / 1000).\(milliseconds % 1000 / 100) s"
    }
}
