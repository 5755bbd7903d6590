public import EddyLoop
import EddyRedisCore
import EddyShared
import struct Synchronization.Atomic

/// A connection of its own for `SUBSCRIBE`/`PSUBSCRIBE` that delivers what is published as
/// an `AsyncSequence` (`events`) and survives Redis restarts.
///
/// Guarantees:
/// - A server that stops answering is noticed within `RedisConfiguration.healthCheckInterval`
///   plus `commandTimeout` (a PING that goes unanswered closes the connection), then handled
///   as a lost connection.
/// - Messages come out in the order Redis sent them on the connection (for one publisher
///   connection: its publish order).
/// - When the connection is lost, the subscriber reconnects with `RedisConfiguration.backoff`
///   and subscribes to every channel and pattern again; `events` says so (`.disconnected`,
///   then `.ready` once every subscription is confirmed again). Pub/sub is at most once:
///   what was published while it was disconnected is not delivered.
/// - `events` ends after `stop()`.
public final class RedisSubscriber: Sendable {
    /// What `events` yields.
    public enum Event: Sendable {
        /// A published message.
        case message(channel: String, pattern: String?, payload: [UInt8])
        /// Connected and every subscription confirmed (at start and after each reconnect).
        case ready
        /// The link changed (connection lost, attempt failed): for logs.
        case state(RedisConnectionState)
    }

    /// Everything received, in order. One consumer.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let configuration: RedisConfiguration
    private let loop: EventLoop
    private let channels: [String]
    private let patterns: [String]
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// A subscriber to `channels` and `patterns` (fixed for its life); call `start()`.
    public init(configuration: RedisConfiguration, on loop: EventLoop, channels: [String] = [], patterns: [String] = []) {
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
        self.configuration = configuration
        self.loop = loop
        self.channels = channels
        self.patterns = patterns
    }

    /// Starts connecting and subscribing in the background.
    public func start() {
        task.withLock { task in
            guard task == nil else { return }
            task = Task(executorPreference: loop) { await self.run() }
        }
    }

    /// Stops: closes the connection, stops reconnecting, ends `events`.
    public func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
        continuation.finish()
    }

    private func run() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await subscribeAndServe()
                failures = 0
            } catch is CancellationError {
                break
            } catch {
                failures += 1
                if Task.isCancelled { break }
                let delay = configuration.backoff.delay(afterFailures: failures)
                continuation.yield(.state(.unavailable(reason: "\(error)", retryIn: delay)))
                do { try await loop.sleep(for: delay) } catch { break }
            }
        }
    }

    /// One connection's life: connect, subscribe, deliver until it closes.
    private func subscribeAndServe() async throws {
        let expected = channels.count + patterns.count
        let confirmed = Atomic<Int>(0)
        let continuation = self.continuation
        let connection = try await RedisConnection.connect(configuration, on: loop) { value in
            switch RedisPubSubEvent(value) {
            case .message(let channel, let pattern, let payload)?:
                continuation.yield(.message(channel: channel, pattern: pattern, payload: payload))
            case .subscribed?:
                if confirmed.add(1, ordering: .relaxed).newValue == expected { continuation.yield(.ready) }
            default: break
            }
        }
        continuation.yield(.state(.connected(endpoint: connection.endpointDescription)))
        await connection.enterSubscribedMode()
        if !channels.isEmpty { try await connection.sendExpectingNoReply(RedisCommand("SUBSCRIBE", arguments: channels.map { Array($0.utf8) })) }
        if !patterns.isEmpty { try await connection.sendExpectingNoReply(RedisCommand("PSUBSCRIBE", arguments: patterns.map { Array($0.utf8) })) }
        let loop = self.loop
        let healthCheck = configuration.healthCheckInterval.map { interval in
            Task(executorPreference: loop) {
                // A PING that goes unanswered past its deadline closes the connection.
                while !connection.isClosed {
                    do { try await loop.sleep(for: interval) } catch { return }
                    _ = try? await connection.send(RedisCommand("PING"))
                }
            }
        }
        let reason = await withTaskCancellationHandler {
            await connection.waitUntilClosed()
        } onCancel: {
            Task { await connection.close() }
        }
        healthCheck?.cancel()
        if Task.isCancelled { throw CancellationError() }
        continuation.yield(.state(.disconnected(reason: "\(reason)")))
        throw reason
    }
}
