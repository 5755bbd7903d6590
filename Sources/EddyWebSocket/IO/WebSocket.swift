public import EddyLoop
public import EddyNet

/// A WebSocket connection (server or client side) over a `ByteStream`.
///
/// It drives the sans-IO `WebSocketProtocol` with bytes from the stream and writes what
/// the protocol produces. Use `messages` to receive, `send` to send, `close` to close:
///
/// ```swift
/// for try await message in ws.messages { try await ws.send(message) }
/// ```
///
/// Guarantees:
/// - State is confined to the stream's loop; every method may be called from anywhere and
///   costs no executor hop on that loop.
/// - Backpressure: frames are read only while someone iterates `messages` (the TCP
///   window pushes back on a fast sender); `send` suspends while the transport's
///   outbound queue is above its high watermark.
/// - Pings are answered and keep-alive pings sent while `messages` is being iterated or
///   the connection is otherwise idle-reading; automatic pongs jump no queue but are
///   written in order with data.
/// - Every peer violation closes with the exact code (1002, 1007, 1009 …) and ends
///   `messages` with `WebSocketClosedError`; the transport is closed exactly once, the
///   server side closing TCP first after the closing handshake (RFC 6455 §7.1.1).
public final class WebSocket: @unchecked Sendable {
    public let eventLoop: EventLoop
    /// The negotiated subprotocol, if any.
    public let subprotocol: String?
    /// The role this side plays.
    public let role: WebSocketRole

    private var proto: WebSocketProtocol
    private let transport: any ByteStream
    private var leftover: [UInt8]
    private var events: [WebSocketEvent] = []
    private var eventIndex = 0
    private var status: WebSocketCloseStatus?
    private var transportClosed = false
    private var reading = false
    private var readWaiters: [UnsafeContinuation<Void, Never>] = []
    /// Reused for every `performActions`, so taking actions allocates nothing.
    private var spareActions: [WebSocketAction] = []
    private var closeTimer: ScheduledWork?
    private var keepAliveTimer: ScheduledWork?

    /// Wraps a stream whose handshake has completed.
    ///
    /// - Parameters:
    ///   - leftover: bytes that arrived right after the handshake (they belong to frames).
    public init<Stream: ByteStream>(
        upgraded stream: Stream,
        role: WebSocketRole,
        configuration: WebSocketConfiguration = WebSocketConfiguration(),
        deflate: PerMessageDeflateParameters? = nil,
        deflateConfiguration: PerMessageDeflateConfiguration = PerMessageDeflateConfiguration(),
        subprotocol: String? = nil,
        leftover: [UInt8] = []
    ) {
        self.eventLoop = stream.eventLoop
        self.transport = stream
        self.role = role
        self.subprotocol = subprotocol
        self.deflateParameters = deflate
        self.leftover = leftover
        self.proto = WebSocketProtocol(
            role: role, configuration: configuration, deflate: deflate,
            deflateConfiguration: deflateConfiguration, subprotocol: subprotocol)
        if let interval = Self.tickInterval(configuration.keepAlive) {
            keepAliveTimer = eventLoop.scheduleRepeating(every: interval) { [weak self] in self?.keepAliveTick() }
        }
    }

    /// Whether permessage-deflate was negotiated.
    public var isCompressed: Bool { proto.isCompressionEnabled }

    /// The negotiated permessage-deflate parameters, if any.
    public let deflateParameters: PerMessageDeflateParameters?

    /// For a server connection that negotiated `server_no_context_takeover`: the largest
    /// window its peer accepts, so one compressed broadcast frame can be shared with it
    /// (see `PreparedMessage`). Nil otherwise.
    public var sharedCompressionWindowBits: Int? {
        guard role == .server, let parameters = deflateParameters, parameters.serverNoContextTakeover else { return nil }
        return parameters.serverMaxWindowBits ?? 15
    }

    /// How the connection ended, once it has.
    public var closeStatus: WebSocketCloseStatus? { status }

    /// Bytes zlib holds for this connection now (0 while idle without context takeover).
    public var compressionMemory: Int { proto.compressionMemory }

    // MARK: Receiving

    /// The messages the peer sends. One consumer. Ends after a normal close (1000/1001);
    /// throws `WebSocketClosedError` after any other ending.
    public var messages: Messages { Messages(socket: self) }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = WebSocketMessage
        let socket: WebSocket

        public func makeAsyncIterator() -> Iterator { Iterator(socket: socket) }

        public struct Iterator: AsyncIteratorProtocol {
            let socket: WebSocket

            public mutating func next() async throws -> WebSocketMessage? {
                try await socket.nextMessageFromAnywhere()
            }

            /// What `for try await` calls. Implemented here rather than by the standard
            /// library's default, which calls `next()` through the protocol witness: one
            /// async frame less on the stack of every idle connection's task.
            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> WebSocketMessage? {
                try await socket.nextMessageFromAnywhere()
            }
        }
    }

    private func nextMessageFromAnywhere() async throws -> WebSocketMessage? {
        if isOnLoop { return try await nextMessage() } // no closure: no allocation
        return try await nextMessageHoppingToLoop()
    }

    @inline(never)
    private func nextMessageHoppingToLoop() async throws -> WebSocketMessage? {
        try await onLoop { [self] in try await nextMessage() }
    }

    /// Runs `body` on this socket's loop (no hop when already there).
    ///
    /// The fast path needs both: this thread is the loop's, and the task prefers the loop,
    /// so that after each suspension inside `body` it resumes on the loop too. Otherwise
    /// `body` runs in a child task that prefers the loop: an explicit task, because an
    /// implicit hop between two nonisolated contexts may be optimised away, which left
    /// `body` on the caller's thread in release builds.
    private func onLoop<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if isOnLoop { return try await body() }
        let task = Task(executorPreference: eventLoop) { try await body() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// Whether code here may touch this socket's state directly (see `onLoop`). The hot
    /// paths test this first and call their body directly, so that the common case builds
    /// no escaping closure (one heap allocation per call otherwise).
    var isOnLoop: Bool { eventLoop.inEventLoop && currentTaskPrefersLoop }

    private var currentTaskPrefersLoop: Bool {
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == eventLoop.asUnownedTaskExecutor() }
    }


    private func nextMessage() async throws -> WebSocketMessage? {
        while true {
            while eventIndex < events.count {
                let event = events[eventIndex]
                eventIndex += 1
                switch event {
                case .text(let text): return .text(text)
                case .binary(let bytes): return .binary(bytes)
                case .ping, .pong: continue
                case .closed(let closed): record(closed)
                }
            }
            events.removeAll(keepingCapacity: true)
            eventIndex = 0
            if let status {
                await closeTransport()
                if status.isNormal { return nil }
                throw WebSocketClosedError(status: status)
            }
            try await readOnce()
        }
    }

    /// Reads one chunk (or EOF) into the protocol and carries out its actions.
    ///
    /// Reads are serialised: when another task (a `messages` consumer, or `close()`) is
    /// already reading, this waits for that read to finish instead of starting a second
    /// one; its events are in `events` for whoever consumes them.
    private func readOnce() async throws {
        if reading {
            await withUnsafeContinuation { readWaiters.append($0) }
            return
        }
        let chunk: [UInt8]?
        if !leftover.isEmpty {
            chunk = leftover
            leftover = []
        } else {
            reading = true
            defer {
                reading = false
                let waiting = readWaiters
                readWaiters = []
                for waiter in waiting { waiter.resume() }
            }
            do {
                chunk = try await transport.read()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                chunk = nil // a transport error is an abnormal end (1006)
            }
        }
        if var chunk {
            // The chunk is ours alone: the protocol unmasks it in place, with no copy.
            chunk.withUnsafeMutableBytes { proto.receiveData($0) }
        } else {
            proto.receiveEOF()
        }
        proto.drainEvents(into: &events)
        try await performActions()
    }

    private func record(_ closed: WebSocketCloseStatus) {
        guard status == nil else { return }
        status = closed
        keepAliveTimer?.cancel()
        keepAliveTimer = nil
    }

    // MARK: Sending

    /// Sends a message. Suspends while the transport is over its high watermark.
    /// Throws `WebSocketClosedError` once the connection is closing or closed.
    public func send(_ message: WebSocketMessage) async throws {
        if isOnLoop { return try await sendOnLoop(message) }
        try await onLoop { [self] in try await sendOnLoop(message) }
    }

    private func sendOnLoop(_ message: WebSocketMessage) async throws {
        do {
            switch message {
            case .text(let text): try proto.sendText(text)
            case .binary(let bytes): try proto.sendBinary(bytes)
            }
        } catch {
            throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
        }
        try await performActions(waitingForDrain: true)
    }

    /// Sends a text message.
    public func send(text: String) async throws { try await send(.text(text)) }
    /// Sends a binary message.
    public func send(binary: [UInt8]) async throws { try await send(.binary(binary)) }

    /// Sends a ping with `payload` (≤ 125 bytes).
    public func ping(_ payload: [UInt8] = []) async throws {
        try await onLoop { [self] in
            do { try proto.sendPing(payload) } catch {
                throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
            }
            try await performActions()
        }
    }

    /// `sendFramed` without waiting, for fan-out code running on this socket's loop.
    /// Returns false when the transport is now backed up (the frames are queued all the
    /// same; stop until `waitUntilWritable()`).
    ///
    /// - Important: Call on `eventLoop` only.
    public func sendFramedWithoutWaiting(_ frames: [[UInt8]]) throws -> Bool {
        guard proto.connectionState == .open, !transportClosed else {
            throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
        }
        return try transport.writeWithoutWaiting(contentsOf: frames)
    }

    /// `sendFramedWithoutWaiting(_:)` for one frame (no array of frames to build).
    public func sendFramedWithoutWaiting(_ frame: [UInt8]) throws -> Bool {
        guard proto.connectionState == .open, !transportClosed else {
            throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
        }
        return try transport.writeWithoutWaiting(frame)
    }

    /// Returns once the transport's outbound queue has drained to its low watermark.
    public func waitUntilWritable() async throws {
        try await transport.waitUntilWritable()
    }

    /// Sends frames that were framed elsewhere (for example once for a whole room),
    /// in order with this socket's own frames. The caller guarantees they are valid for
    /// this connection (unmasked server frames, RSV1 only with deflate negotiated).
    public func sendFramed(_ frames: [[UInt8]]) async throws {
        try await onLoop { [self] in
            guard proto.connectionState == .open else {
                throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
            }
            try await performActions()
            if try !transport.writeWithoutWaiting(contentsOf: frames) {
                try await transport.waitUntilWritable()
            }
        }
    }

    // MARK: Closing

    /// Starts the closing handshake with `code` and `reason` and waits until the
    /// connection has closed (the peer's Close arrived, or the close timeout passed).
    /// Returns how it ended. Safe to call more than once.
    @discardableResult
    public func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") async -> WebSocketCloseStatus {
        (try? await onLoop { [self] () -> WebSocketCloseStatus in
            if proto.connectionState == .open {
                try? proto.sendClose(code: code, reason: reason)
                try? await performActions()
            }
            // Read until the peer's Close (or EOF, or the close timer) ends the connection;
            // a `messages` consumer reading at the same time shares the reads.
            while status == nil {
                do { try await readOnce() } catch { break }
            }
            await closeTransport()
            return status ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false)
        }) ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false)
    }

    // MARK: Actions

    /// Carries out what the protocol asked for, in order. Frames are queued on the
    /// transport without waiting, so control frames (pongs, the Close) never wait behind
    /// backpressure; only a data `send` then waits for the transport to drain.
    private func performActions(waitingForDrain: Bool = false) async throws {
        var backedUp = false
        var actions = spareActions
        spareActions = []
        proto.drainActions(into: &actions)
        defer {
            actions.removeAll(keepingCapacity: true)
            spareActions = actions
        }
        for action in actions {
            switch action {
            case .write(let bytes):
                do {
                    if try !transport.writeWithoutWaiting(bytes) { backedUp = true }
                } catch {
                    proto.receiveEOF()
                    proto.drainEvents(into: &events)
                    await closeTransport()
                    throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))
                }
            case .armCloseTimer(let timeout):
                closeTimer?.cancel()
                closeTimer = eventLoop.schedule(after: timeout) { [weak self] in self?.closeTimerFired() }
            case .closeTransport:
                await closeTransport()
            }
        }
        if status == nil {
            for event in events[eventIndex...] { if case .closed(let closed) = event { record(closed) } }
        }
        if backedUp && waitingForDrain && !transportClosed {
            do { try await transport.waitUntilWritable() } catch {
                throw WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))
            }
        }
    }

    private func closeTransport() async {
        guard !transportClosed else { return }
        transportClosed = true
        closeTimer?.cancel()
        keepAliveTimer?.cancel()
        // Flush what is queued (the Close frame), send FIN, then release the socket. A
        // peer that does not read could hold the flush forever: the close timeout bounds it.
        let transport = self.transport
        let deadline = eventLoop.schedule(after: proto.configuration.closeTimeout) {
            Task(executorPreference: transport.eventLoop) { await transport.close() }
        }
        try? await transport.shutdownWrite()
        deadline.cancel()
        await transport.close()
    }

    private func closeTimerFired() {
        proto.closeTimerExpired()
        proto.drainEvents(into: &events)
        Task(executorPreference: eventLoop) { try? await self.performActions() }
    }

    private func keepAliveTick() {
        guard status == nil else { return }
        proto.tick(now: .now)
        proto.drainEvents(into: &events)
        Task(executorPreference: eventLoop) { try? await self.performActions() }
    }

    /// How often to tick keep-alive: often enough to honour the shortest timer.
    static func tickInterval(_ keepAlive: WebSocketKeepAliveConfiguration) -> Duration? {
        let candidates = [keepAlive.pingInterval, keepAlive.idleTimeout, keepAlive.pingInterval.map { _ in keepAlive.pongTimeout }]
            .compactMap { $0 }
        guard let shortest = candidates.min() else { return nil }
        return max(.milliseconds(10), shortest / 4)
    }
}
