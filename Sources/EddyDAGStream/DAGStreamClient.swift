public import EddyDAG
public import EddyLoop
import EddyNet
public import EddyTLS
public import EddyWebSocket
import EddyShared

/// A dashboard in Swift: follows one run's stream, keeps a local `DAGStateStore`
/// converged with the server's, and survives disconnects and server restarts.
///
/// Guarantees:
/// - `state` only ever moves forward: snapshots replace it, deltas apply in `seq` order; a
///   gap (or a failed connection) makes the client reconnect with `since=<last seq>` and
///   `epoch`, so the server replays exactly what was missed (or sends a snapshot).
/// - Reconnects back off exponentially with full jitter (base 1 s, cap 30 s, unlimited),
///   and the backoff resets once a connection has delivered its first event.
/// - `send` sends a command and returns its `command_result`, or throws `TimeoutError`.
/// - `run()` returns when its task is cancelled.
public final class DAGStreamClient: Sendable {
    /// Reconnect timing.
    public struct Backoff: Sendable {
        public var base: Duration = .seconds(1)
        public var cap: Duration = .seconds(30)
        public init() {}
    }

    public let url: String
    public let token: String
    public let eventLoop: EventLoop
    public let backoff: Backoff
    /// TLS for a `wss://` URL (nil: the system's trust store, see
    /// `WebSocketClientConfiguration.tls`).
    public let tls: TLSContext?
    /// Pings to the server and how long a pong may take: a link that goes silent (black-holed,
    /// the server's host gone) fails the connection after `pingInterval + pongTimeout` at most,
    /// and the client reconnects and resyncs. Default: a ping every 20 s, 20 s to answer.
    public let keepAlive: WebSocketKeepAliveConfiguration
    private let shared = Mutex(Shared())

    private struct Shared {
        var store: DAGStateStore?
        var socket: WebSocket?
        var waiters: [String: UnsafeContinuation<CommandResult, any Error>] = [:]
        var listeners: [AsyncStream<EventEnvelope>.Continuation] = []
        var connections = 0
    }

    /// - Parameters:
    ///   - url: the stream URL, `ws://host:port/api/dags/<id>/stream` (or `wss://`).
    ///   - tls: for `wss://`: the client context (a private CA's trust roots …); nil: the
    ///     system's trust store.
    ///   - keepAlive: pings and pong timeout, to notice a silent link (see `keepAlive`).
    public init(url: String, token: String, on loop: EventLoop, backoff: Backoff = Backoff(), tls: TLSContext? = nil,
                keepAlive: WebSocketKeepAliveConfiguration = WebSocketKeepAliveConfiguration()) {
        self.url = url
        self.token = token
        self.eventLoop = loop
        self.backoff = backoff
        self.tls = tls
        self.keepAlive = keepAlive
    }

    /// The local copy of the run's state (nil before the first snapshot).
    public var state: DAGStateStore? { shared.withLock { $0.store } }

    /// How many connections have been established so far.
    public var connectionCount: Int { shared.withLock { $0.connections } }

    /// Every event applied to the local state, as it is applied (snapshots included).
    public func events() -> AsyncStream<EventEnvelope> {
        let (stream, continuation) = AsyncStream<EventEnvelope>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        shared.withLock { $0.listeners.append(continuation) }
        return stream
    }

    /// Connects, follows the stream and reconnects until the calling task is cancelled.
    public func run() async {
        var attempt = 0
        while !Task.isCancelled {
            if await followOnce() { attempt = 0 }
            guard !Task.isCancelled else { break }
            let ceiling = min(backoff.cap, backoff.base * (1 << min(attempt, 20)))
            let ceilingNanoseconds = Int64(max(1, ceiling / .nanoseconds(1)))
            let delay = Duration.nanoseconds(Int64.random(in: 0...ceilingNanoseconds)) // full jitter
            attempt += 1
            do { try await eventLoop.sleep(for: delay) } catch { break }
        }
        let (listeners, waiters) = shared.withLock { shared in
            defer { shared.listeners = []; shared.waiters = [:] }
            return (shared.listeners, shared.waiters)
        }
        for listener in listeners { listener.finish() }
        for waiter in waiters.values { waiter.resume(throwing: CancellationError()) }
    }

    /// Sends `command` and waits (up to `timeout`) for its `command_result`.
    public func send(_ command: ClientCommand, timeout: Duration = .seconds(10)) async throws -> CommandResult {
        guard let socket = shared.withLock({ $0.socket }) else { throw IOError(.closed, operation: "send command") }
        let id = command.commandID
        let expiry = eventLoop.schedule(after: timeout) { [self] in
            let waiter = self.shared.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: TimeoutError(timeout: timeout))
        }
        defer { expiry.cancel() }
        return try await withUnsafeThrowingContinuation { continuation in
            shared.withLock { $0.waiters[id] = continuation }
            Task(executorPreference: socket.eventLoop) {
                do { try await socket.send(text: String(decoding: command.jsonBytes, as: UTF8.self)) } catch {
                    let waiter = self.shared.withLock { $0.waiters.removeValue(forKey: id) }
                    waiter?.resume(throwing: error)
                }
            }
        }
    }

    /// One connection: returns whether it delivered at least one event.
    private func followOnce() async -> Bool {
        var target = url
        if let store = state {
            target += (url.contains("?") ? "&" : "?") + "since=\(store.seq)&epoch=\(store.epoch)"
        }
        var configuration = WebSocketClientConfiguration()
        configuration.headers.add(name: "Authorization", value: "Bearer \(token)")
        configuration.connectTimeout = .seconds(5)
        configuration.tls = tls
        configuration.connection.keepAlive = keepAlive
        // Safe to drop: a failed connect is retried with backoff by `run()`, and counted there.
        guard let socket = try? await WebSocket.connect(to: target, configuration: configuration, on: eventLoop) else { return false }
        shared.withLock { $0.socket = socket; $0.connections += 1 }
        defer { shared.withLock { $0.socket = nil } }
        var delivered = false
        do {
            delivered = try await withTaskCancellationHandler {
                try await Task(executorPreference: eventLoop) { () -> Bool in
                    var delivered = false
                    for try await message in socket.messages {
                        // Safe to drop: a message that is no event envelope (a newer server's) is skipped;
                        // a gap it leaves is caught by `handle`'s seq check.
                        guard case .text(let text) = message,
                              let envelope = try? ProtocolDecoder.decodeEnvelope(Array(text.utf8)) else { continue }
                        delivered = true
                        if !self.handle(envelope) { break } // a gap: reconnect and resync
                    }
                    return delivered
                }.value
            } onCancel: {
                Task(executorPreference: socket.eventLoop) { await socket.close(code: .goingAway) }
            }
        } catch {}
        _ = await socket.close()
        return delivered
    }

    /// Applies or routes one envelope; false when the stream must be resynchronised.
    private func handle(_ envelope: EventEnvelope) -> Bool {
        if case .commandResult(let result) = envelope.event {
            let waiter = shared.withLock { $0.waiters.removeValue(forKey: result.commandID) }
            waiter?.resume(returning: result)
            return true
        }
        let (outcome, listeners) = shared.withLock { shared -> (DAGStateStore.ApplyOutcome, [AsyncStream<EventEnvelope>.Continuation]) in
            var store = shared.store ?? DAGStateStore(dagID: envelope.dagID, epoch: envelope.epoch)
            if case .snapshot = envelope.event {} else if shared.store == nil { return (.ignored, []) }
            let outcome = store.apply(envelope)
            shared.store = store
            return (outcome, shared.listeners)
        }
        switch outcome {
        case .applied:
            for listener in listeners { listener.yield(envelope) }
            return true
        case .duplicate, .ignored:
            return true
        case .gap:
            return false
        }
    }
}
