public import EddyLoop
import EddyNet
public import EddyRedisCore
import EddyTLS
import Synchronization

/// One connection to a Redis server, logged in, on one event loop: commands are pipelined
/// (any number in flight) and replies are matched to them in order.
///
/// Guarantees:
/// - Commands are written in the order `send`/`sendWithoutWaiting` are called on the
///   connection's loop, and each gets the reply at its place in that order.
/// - Every command has a deadline (`RedisConfiguration.commandTimeout`, or the one given to
///   `send(_:timeout:)`); when one passes, or the stream ends, or the server breaks the
///   protocol, the connection closes and every command in flight fails with that reason.
/// - RESP3 pushes (and, once `enterSubscribedMode()` is called, RESP2 pub/sub arrays) go
///   to `pushHandler` on the loop, never to a command.
/// - The actor runs on its loop (its executor), so it shares no state with other threads.
public actor RedisConnection {
    public nonisolated let eventLoop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.asUnownedSerialExecutor() }
    /// The endpoint, password redacted (for logs).
    public nonisolated let endpointDescription: String
    /// 3 after a successful `HELLO 3`, 2 on a server that only speaks RESP2.
    public internal(set) var protocolVersion = 2

    private let stream: any ByteStream
    private let defaultTimeout: Duration
    private let pushHandler: (@Sendable (RESPValue) -> Void)?
    private var parser: RESPParser
    private var waiting: [Waiting] = []
    private var waitingHead = 0
    /// Checks the oldest command's deadline a few times per timeout (one timer per
    /// connection, not one per command).
    private var watchdog: ScheduledWork?
    private var subscribedMode = false
    /// The stream's outbound queue is above its high watermark (the server reads slower
    /// than we write): `sendWithoutWaiting` refuses until it drains.
    private var isCongested = false
    private var failure: RedisError?
    private var closeWaiters: [CheckedContinuation<RedisError, Never>] = []
    private nonisolated let closedFlag = Atomic<Bool>(false)

    private struct Waiting {
        var continuation: CheckedContinuation<RESPValue, any Error>?
        /// When the reply is due (nil: no deadline); the command's name for the error.
        var deadline: (at: ContinuousClock.Instant, timeout: Duration)?
        var name: [UInt8]
        /// For a command of a `pipeline` call: where its reply goes.
        var batch: (collector: PipelineReplies, index: Int)?
    }

    /// Whether the connection has closed (from any thread).
    public nonisolated var isClosed: Bool { closedFlag.load(ordering: .acquiring) }

    init(stream: any ByteStream, configuration: RedisConfiguration, pushHandler: (@Sendable (RESPValue) -> Void)?) {
        self.eventLoop = stream.eventLoop
        self.stream = stream
        self.endpointDescription = configuration.endpoint.description
        self.defaultTimeout = configuration.commandTimeout
        self.pushHandler = pushHandler
        self.parser = RESPParser(limits: configuration.limits)
    }

    func startReading() {
        startWatchdog()
        Task { await self.readReplies() }
    }

    private func readReplies() async {
        var reason = RedisError.connectionClosed("the server closed the connection")
        do {
            while failure == nil, let chunk = try await stream.read() {
                parser.append(chunk)
                while failure == nil, let value = try parser.next() { receive(value) }
            }
        } catch let error as RESPParseError {
            reason = .protocolViolation(error)
        } catch {
            reason = .connectionClosed("\(error)")
        }
        await fail(reason)
    }

    private func receive(_ value: RESPValue) {
        if case .push = value {
            pushHandler?(value)
            return
        }
        if subscribedMode, RedisPubSubEvent(value) != nil {
            pushHandler?(value)
            return
        }
        guard waitingHead < waiting.count else {
            Task { await self.fail(.connectionClosed("a reply arrived for no command")) }
            return
        }
        let entry = waiting[waitingHead]
        waitingHead += 1
        if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        if let (collector, index) = entry.batch {
            collector.set(value, at: index)
        } else if case .error(let message) = value {
            entry.continuation?.resume(throwing: RedisError.server(message))
        } else {
            entry.continuation?.resume(returning: value)
        }
    }

    /// Sends `command` and returns its reply; an error reply throws `RedisError.server`.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await send(command, timeout: defaultTimeout)
    }

    /// Sends `command` with its own deadline; `nil`: none (a blocking read, such as
    /// `XREAD BLOCK 0`, on a connection of its own).
    public func send(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        if let failure { throw failure }
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(command, continuation: continuation, timeout: timeout)
        }
    }

    /// Sends `commands` in one pipeline (one write) and returns their replies in order; an
    /// error reply is returned as `.error`, not thrown.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if let failure { throw failure }
        if commands.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let collector = PipelineReplies(count: commands.count, continuation: continuation)
            var bytes: [UInt8] = []
            let deadline = (at: ContinuousClock.now + defaultTimeout, timeout: defaultTimeout)
            for (index, command) in commands.enumerated() {
                command.encode(into: &bytes)
                waiting.append(Waiting(continuation: nil, deadline: deadline, name: command.parts.first ?? [],
                                       batch: (collector, index)))
            }
            write(bytes)
        }
    }

    /// Sends `command` without waiting for its reply (which is read and dropped; an error
    /// reply is dropped too). Returns false, sending nothing, if the connection is closed or
    /// congested (its outbound queue above the stream's high watermark until it drains):
    /// fire-and-forget callers drop and count rather than queue without bound.
    @discardableResult
    public func sendWithoutWaiting(_ command: RedisCommand) -> Bool {
        guard failure == nil, !isCongested else { return false }
        enqueue(command, continuation: nil, timeout: defaultTimeout)
        return failure == nil
    }

    /// Writes `command` expecting no reply of its own: for `SUBSCRIBE` and the like, whose
    /// confirmations come as pub/sub events (call `enterSubscribedMode()` first).
    public func sendExpectingNoReply(_ command: RedisCommand) async throws {
        if let failure { throw failure }
        do { try await stream.write(command.encoded) } catch {
            await fail(.connectionClosed("\(error)"))
            throw RedisError.connectionClosed("\(error)")
        }
    }

    /// From now on RESP2 pub/sub arrays go to the push handler (RESP3 pushes always do).
    public func enterSubscribedMode() { subscribedMode = true }

    private func enqueue(_ command: RedisCommand, continuation: CheckedContinuation<RESPValue, any Error>?, timeout: Duration?) {
        waiting.append(Waiting(continuation: continuation, deadline: timeout.map { (at: ContinuousClock.now + $0, timeout: $0) },
                               name: command.parts.first ?? []))
        write(command.encoded)
    }

    private func write(_ bytes: [UInt8]) {
        do {
            // Queued before any suspension: commands go out in call order.
            if try !stream.writeWithoutWaiting(bytes), !isCongested {
                isCongested = true
                Task {
                    try? await self.stream.waitUntilWritable()
                    self.isCongested = false
                }
            }
        } catch {
            Task { await self.fail(.connectionClosed("\(error)")) }
        }
    }

    /// Fails the connection if the oldest command's reply is overdue. Replies come in
    /// order, so a late oldest command is the only one to check: every command behind it
    /// waits for it. (A command without a deadline at the head — a blocking read — holds
    /// back the check of those behind it: blocking reads belong on a connection of their own.)
    private func checkDeadlines() {
        guard failure == nil, waitingHead < waiting.count, let deadline = waiting[waitingHead].deadline,
              ContinuousClock.now >= deadline.at else { return }
        let name = String(decoding: waiting[waitingHead].name, as: UTF8.self).uppercased()
        Task { await self.fail(.timedOut(command: name, after: deadline.timeout)) }
    }

    private func startWatchdog() {
        let interval = max(.milliseconds(10), min(defaultTimeout / 4, .milliseconds(250)))
        watchdog = eventLoop.scheduleRepeating(every: interval) { [weak self] in
            self?.assumeIsolated { $0.checkDeadlines() }
        }
    }

    private func fail(_ reason: RedisError) async {
        guard failure == nil else { return }
        failure = reason
        closedFlag.store(true, ordering: .releasing)
        let pending = waiting[waitingHead...]
        waiting = []
        waitingHead = 0
        watchdog?.cancel()
        watchdog = nil
        for entry in pending {
            entry.continuation?.resume(throwing: reason)
            entry.batch?.collector.fail(reason)
        }
        for waiter in closeWaiters { waiter.resume(returning: reason) }
        closeWaiters = []
        await stream.close()
    }

    /// Closes the connection; commands in flight fail with `RedisError.connectionClosed`.
    public func close() async {
        await fail(.connectionClosed("closed by this client"))
    }

    /// Returns once the connection has closed, with the reason.
    public func waitUntilClosed() async -> RedisError {
        if let failure { return failure }
        return await withCheckedContinuation { closeWaiters.append($0) }
    }
}
