import EddyMetrics
import EddyShared
import EddyWebSocketCore
public import EddyLoop
public import EddyNet

/// A WebSocket connection (server or client side) over a `ByteStream`.
///
/// It drives the sans-IO `WebSocketProtocol` on the stream's loop: received bytes are
/// pushed into the protocol as they arrive (`ByteStreamReceiver`), and what the protocol
/// produces is written at once. Use `messages` to receive, `send` to send, `close` to
/// close:
///
/// ```swift
/// for try await message in ws.messages { try await ws.send(message) }
/// ```
///
/// Guarantees:
/// - State is confined to the stream's loop and touched only by synchronous code there.
///   Every method may be called from anywhere: on the loop thread it runs inline; from
///   elsewhere it costs one hop. A suspended caller is resumed *with* its result (a
///   message, a close status), so nothing is touched after a suspension and no task has
///   to prefer the loop for correctness (preferring it saves the hops).
/// - Backpressure: up to `bufferedMessageBytes` of received messages wait for the
///   consumer; above that, reading stops (the TCP window pushes back on the sender) until
///   the consumer catches up. `send` suspends while the transport's outbound queue is
///   above its high watermark; a peer that does not drain it for the keep-alive pong
///   timeout is dropped (1011 "peer stopped reading"), ending the wait.
/// - Pings are answered and keep-alive pings sent whether or not anyone iterates
///   `messages`, as long as reading is not paused for a consumer that fell behind (then
///   keep-alive waits too); automatic pongs jump no queue but are written in order.
/// - Every peer violation closes with the exact code (1002, 1007, 1009 …) and ends
///   `messages` with `WebSocketClosedError`; the transport is closed exactly once, the
///   server side closing TCP first after the closing handshake (RFC 6455 §7.1.1).
/// - An idle connection's task holds one small frame: the consumer's continuation is
///   parked in the socket, not a chain of reads.
public final class WebSocket: @unchecked Sendable {
    public let eventLoop: EventLoop
    /// The negotiated subprotocol, if any.
    public var subprotocol: String? { negotiated?.subprotocol }
    /// The negotiated permessage-deflate parameters, if any.
    public var deflateParameters: PerMessageDeflateParameters? { negotiated?.deflate }
    /// What the handshake agreed on, shared with `proto` (nil: nothing, no box). Immutable,
    /// so the two properties above can be read from any thread.
    let negotiated: WebSocketNegotiated?

    // Loop-thread state (see WebSocket+Loop.swift). The per-message fields are
    // `@exclusivity(unchecked)`: only the loop's thread touches them and no access overlaps
    // another (the protocol is a value mutated in place and calls nothing back), so the
    // runtime's dynamic exclusivity check — about a sixth of the server's user-space time
    // per echoed message (BENCHMARKS.md) — proves nothing here. The sanitizer builds still
    // check the thread confinement.
    @exclusivity(unchecked) var proto: WebSocketProtocol
    let transport: any ByteStream
    @exclusivity(unchecked) var events: [WebSocketEvent] = []
    /// The next event of `events` to hand out. 32-bit, next to `keepAliveSlotIndex`, so
    /// that the two share one word (the instance fits a 256-byte malloc chunk).
    @exclusivity(unchecked) var eventPosition: Int32 = 0
    /// `keepAliveSlot`'s storage (fewer than 2³¹ sockets share a loop's ticker).
    var keepAliveSlotIndex: Int32 = -1
    /// This socket's place in `openSockets`' list (-1: none). Touched only under the lock
    /// of that `OpenWebSockets`.
    var openSlot: Int32 = -1
    @inline(__always)
    var eventIndex: Int {
        get { Int(eventPosition) }
        set { eventPosition = Int32(truncatingIfNeeded: newValue) }
    }
    /// Payload bytes of the messages in `events` not yet taken.
    @exclusivity(unchecked) var bufferedBytes = 0
    /// How the connection ended, once it has.
    var status: WebSocketCloseStatus? {
        get { closing?.status }
        set { closingState().status = newValue }
    }
    /// The close status, close timer and close waiters, out of line: made when the
    /// connection starts closing (or someone waits for it), so an open connection keeps
    /// one empty reference for them. Loop only.
    var closing: WebSocketClosingState?
    // `state`, `driver` and `role` (6 bytes) share one word.
    /// The transport's lifecycle, whether the socket reads and what it waits for (see the
    /// type for the states and transitions). Loop only.
    @exclusivity(unchecked) var state = WebSocketConnectionState()
    /// A task or a responder (see the type). A task's mode is also read off the loop, in
    /// `nextMessage`: it is written once, before the handler starts.
    var driver: WebSocketDriver
    /// The role this side plays.
    public let role: WebSocketRole
    @exclusivity(unchecked) var consumer: UnsafeContinuation<WebSocketMessage?, any Error>?
    /// The parked consumer's cancellable wait, if it is one.
    var consumerWait: WaitCancellation?
    /// The frame buffer handed back and forth with the protocol (see `sendOnLoop`).
    @exclusivity(unchecked) var spareFrame: [UInt8] = []
    /// Reused for every drain of the protocol's actions: taking actions allocates nothing.
    @exclusivity(unchecked) var spareActions: [WebSocketAction] = []
    /// This socket's place with the loop's `KeepAliveTicker` (-1: none).
    var keepAliveSlot: Int {
        get { Int(keepAliveSlotIndex) }
        set { keepAliveSlotIndex = Int32(truncatingIfNeeded: newValue) }
    }
    /// The route's responder and register of open connections: one box per route, one
    /// reference here instead of two.
    let routeLinks: WebSocketRouteLinks?
    /// Set for a socket driven by callbacks instead of a consumer task.
    var responder: RouteResponder? { routeLinks?.responder }
    /// The server's register of open connections, told when the transport closes.
    var openSockets: OpenWebSockets? { routeLinks?.openSockets }

    /// Whether reading is paused (for tests and diagnostics). Loop only.
    var receivingPaused: Bool { state.readingPaused }

    /// Set (before the handler starts) for a socket whose task belongs to a
    /// `ByteStreamListener.serveHandingOver` group, which closes the connection when `serve` is
    /// cancelled: a parked consumer then ends with the connection. Readable off the loop:
    /// a responder's socket (whose driver changes on the loop) answers without reading it.
    var transportClosesOnCancellation: Bool {
        responder == nil && driver.listenerClosesTransportOnCancellation
    }

    /// Received messages (bytes of payload) that may wait for the consumer before reading
    /// stops.
    public static let bufferedMessageBytes = 64 * 1024

    /// Wraps a stream whose handshake has completed and starts receiving.
    ///
    /// - Parameters:
    ///   - leftover: bytes that arrived right after the handshake (they belong to frames).
    public convenience init<Stream: ByteStream>(
        upgraded stream: Stream,
        role: WebSocketRole,
        configuration: WebSocketConfiguration = WebSocketConfiguration(),
        deflate: PerMessageDeflateParameters? = nil,
        deflateConfiguration: PerMessageDeflateConfiguration = PerMessageDeflateConfiguration(),
        subprotocol: String? = nil,
        leftover: [UInt8] = []
    ) {
        self.init(upgraded: stream, role: role, sharedConfiguration: SharedValue(configuration),
                  deflate: deflate, deflateConfiguration: deflateConfiguration, subprotocol: subprotocol, leftover: leftover)
    }

    /// As above, with a configuration shared by many connections (a route's).
    init<Stream: ByteStream>(
        upgraded stream: Stream,
        role: WebSocketRole,
        sharedConfiguration: SharedValue<WebSocketConfiguration>,
        deflate: PerMessageDeflateParameters?,
        deflateConfiguration: PerMessageDeflateConfiguration,
        subprotocol: String?,
        leftover: [UInt8],
        routeLinks: WebSocketRouteLinks? = nil
    ) {
        self.routeLinks = routeLinks
        self.driver = WebSocketDriver(responder: routeLinks?.responder != nil)
        self.eventLoop = stream.eventLoop
        self.transport = stream
        self.role = role
        let negotiated = WebSocketNegotiated.make(subprotocol: subprotocol, deflate: deflate)
        self.negotiated = negotiated
        self.proto = WebSocketProtocol(
            role: role, sharedConfiguration: sharedConfiguration, negotiated: negotiated,
            deflateConfiguration: deflateConfiguration)
        let tick = Self.tickInterval(sharedConfiguration.value.keepAlive)
        eventLoop.runOnLoop { self.start(leftover: leftover, keepAliveTick: tick) }
    }

    /// Whether permessage-deflate was negotiated.
    public var isCompressed: Bool { proto.isCompressionEnabled }

    /// For a server connection that negotiated `server_no_context_takeover`: the largest
    /// window its peer accepts, so one compressed broadcast frame can be shared with it
    /// (see `PreparedMessage`). Nil otherwise.
    public var sharedCompressionWindowBits: Int? {
        guard role == .server, let parameters = deflateParameters, parameters.serverNoContextTakeover else { return nil }
        return parameters.serverMaxWindowBits ?? 15
    }

    /// How the connection ended, once it has. Read it on the loop (or after `close()`).
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
            @usableFromInline let socket: WebSocket

            init(socket: WebSocket) { self.socket = socket }

            public mutating func next() async throws -> WebSocketMessage? {
                try await socket.nextMessage()
            }

            /// What `for try await` calls. It runs in its caller's isolation
            /// (`nonisolated(nonsending)`), so `actor` needs no hop: with the standard
            /// library's default (`isolated` parameter) every message cost two executor
            /// switches, each taking the task's status-record lock, and one async frame
            /// more on an idle connection's task.
            ///
            /// Inlinable, with the common case (a message is waiting and this is the loop's
            /// thread) taken without any async call: no task-allocator frame per message.
            @inlinable
            nonisolated(nonsending) public mutating func next(isolation actor: (any Actor)?) async throws -> WebSocketMessage? {
                if socket.eventLoop.inEventLoop, let ready = socket.takeNext() { return try ready.get() }
                return try await socket.nextMessage()
            }
        }
    }

    /// The next message: taken at once when one is buffered and this is the loop's thread,
    /// otherwise by parking a continuation that the loop resumes with the outcome.
    @usableFromInline
    func nextMessage() async throws -> WebSocketMessage? {
        if eventLoop.inEventLoop, let ready = takeNext() { return try ready.get() }
        if transportClosesOnCancellation {
            // Served by a listener that closes the connection when cancelled: no handler of
            // our own, whose frames would cost every idle connection a task-allocator slab.
            return try await withUnsafeThrowingContinuation { continuation in
                if eventLoop.inEventLoop { park(continuation) } else { eventLoop.execute { self.park(continuation) } }
            }
        }
        return try await waitCancellably()
    }

    /// The wait with a cancellation handler, in a function of its own so that its frame is
    /// not part of `nextMessage`'s.
    @inline(never)
    private func waitCancellably() async throws -> WebSocketMessage? {
        // The token settles the race between the park and the cancellation, which reach
        // the loop from different threads in either order.
        let wait = WaitCancellation()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                if eventLoop.inEventLoop { park(continuation, wait: wait) } else { eventLoop.execute { self.park(continuation, wait: wait) } }
            }
        } onCancel: {
            wait.cancel()
            eventLoop.execute { self.cancelConsumer(wait) }
        }
    }

    // MARK: Sending

    /// Sends a message. Suspends while the transport is over its high watermark.
    /// Throws `WebSocketClosedError` once the connection is closing or closed.
    ///
    /// Inlinable: on the loop's thread and under the watermark (the common case) it makes
    /// no async call, so it costs no task-allocator frame.
    @inlinable
    public func send(_ message: WebSocketMessage) async throws {
        if eventLoop.inEventLoop {
            if try sendOnLoop(message) { try await waitForDrain() }
        } else {
            try await sendFromAnotherThread(message)
        }
    }

    @usableFromInline
    func sendFromAnotherThread(_ message: WebSocketMessage) async throws {
        if try await eventLoop.submit({ try self.sendOnLoop(message) }) { try await waitForDrain() }
    }

    /// Sends a text message.
    public func send(text: String) async throws { try await send(.text(text)) }
    /// Sends a binary message.
    public func send(binary: [UInt8]) async throws { try await send(.binary(binary)) }

    /// Sends a ping with `payload` (≤ 125 bytes).
    public func ping(_ payload: [UInt8] = []) async throws {
        let backedUp = try await onLoop { () throws -> Bool in
            do { try self.proto.sendPing(payload) } catch { throw self.closedError() }
            return try self.performActions()
        }
        if backedUp { try await waitForDrain() }
    }

    /// Sends a message without waiting, for code that runs on this socket's loop and
    /// cannot suspend (a `WebSocketResponder`). Returns false when the transport is now
    /// above its high watermark: the message is queued all the same; a responder-driven
    /// socket then stops reading until the queue drains, other callers should wait with
    /// `waitUntilWritable()` before sending more.
    /// Throws `WebSocketClosedError` once the connection is closing or closed.
    ///
    /// - Important: Call on `eventLoop` only.
    @discardableResult
    public func sendWithoutWaiting(_ message: WebSocketMessage) throws -> Bool {
        precondition(eventLoop.inEventLoop, "WebSocket.sendWithoutWaiting called off the socket's loop")
        // Nobody waits here: a task socket is marked as waiting for the drain only by a wait
        // (`send`, `waitUntilWritable`), so keep-alive judges the peer as usual meanwhile.
        let backedUp = try queue(message)
        if backedUp, responder != nil { stopReadingUntilWritable() }
        return !backedUp
    }

    /// Sends a message given as bytes (a lent message's, or a slice of your own buffer)
    /// without waiting, by `sendWithoutWaiting(_:)`'s rules; on a server a small frame's
    /// header and bytes are copied straight into the transport's buffer (a large one, 16 KiB
    /// or more, is joined first and written at once). Text must be valid
    /// UTF-8: otherwise this throws `WebSocketUsageError.invalidUTF8Text` and sends nothing.
    ///
    /// - Important: Call on `eventLoop` only.
    @discardableResult
    public func sendWithoutWaiting(_ bytes: RawSpan, as kind: WebSocketMessageKind) throws -> Bool {
        precondition(eventLoop.inEventLoop, "WebSocket.sendWithoutWaiting called off the socket's loop")
        let backedUp = try queue(bytes, as: kind)
        if backedUp, responder != nil { stopReadingUntilWritable() }
        return !backedUp
    }

    /// `sendFramed` without waiting, for fan-out code running on this socket's loop.
    /// Returns false when the transport is now backed up (the frames are queued all the
    /// same; stop until `waitUntilWritable()`).
    ///
    /// - Important: Call on `eventLoop` only.
    public func sendFramedWithoutWaiting(_ frames: [[UInt8]]) throws -> Bool {
        guard proto.connectionState == .open, !state.transportClosing else { throw closedError() }
        LoopTally.add(.messagesSent, frames.count)
        LoopTally.add(.bytesSent, frames.reduce(0) { $0 + $1.count })
        eventLoop.handOverHeldOutput()
        return try transport.writeWithoutWaiting(contentsOf: frames)
    }

    /// `sendFramedWithoutWaiting(_:)` for `messageCount` frames laid end to end in one
    /// buffer (a room's burst, joined once for all its members): the transport holds that
    /// buffer, or copies it once, rather than taking each frame.
    public func sendFramedWithoutWaiting(joined frames: [UInt8], messageCount: Int) throws -> Bool {
        guard proto.connectionState == .open, !state.transportClosing else { throw closedError() }
        LoopTally.add(.messagesSent, messageCount)
        LoopTally.add(.bytesSent, frames.count)
        eventLoop.handOverHeldOutput()
        return try transport.writeWithoutWaiting(frames)
    }

    /// `sendFramedWithoutWaiting(_:)` for one frame (no array of frames to build).
    public func sendFramedWithoutWaiting(_ frame: [UInt8]) throws -> Bool {
        guard proto.connectionState == .open, !state.transportClosing else { throw closedError() }
        LoopTally.add(.messagesSent)
        LoopTally.add(.bytesSent, frame.count)
        eventLoop.handOverHeldOutput()
        return try transport.writeWithoutWaiting(frame)
    }

    /// Returns once the transport's outbound queue has drained to its low watermark. Like a
    /// `send` that waits, it counts towards dropping a peer that stops reading (1011 "peer
    /// stopped reading" after the keep-alive pong timeout, and this throws
    /// `WebSocketClosedError`).
    public func waitUntilWritable() async throws {
        try await onLoop { if self.responder == nil { self.state.sendWaitsForDrain() } }
        try await waitForDrain()
    }

    /// Sends frames that were framed elsewhere (for example once for a whole room),
    /// in order with this socket's own frames. The caller guarantees they are valid for
    /// this connection (unmasked server frames, RSV1 only with deflate negotiated).
    public func sendFramed(_ frames: [[UInt8]]) async throws {
        let backedUp = try await onLoop { () throws -> Bool in
            guard self.proto.connectionState == .open, !self.state.transportClosing else { throw self.closedError() }
            LoopTally.add(.messagesSent, frames.count)
            LoopTally.add(.bytesSent, frames.reduce(0) { $0 + $1.count })
            self.eventLoop.handOverHeldOutput()
            return try !self.transport.writeWithoutWaiting(contentsOf: frames)
        }
        if backedUp { try await waitForDrain() }
    }

    // MARK: Closing

    /// Starts the closing handshake with `code` and `reason` and waits until the
    /// connection has closed (the peer's Close arrived, or the close timeout passed).
    /// Returns how it ended. Safe to call more than once.
    @discardableResult
    public func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") async -> WebSocketCloseStatus {
        await withUnsafeContinuation { continuation in
            eventLoop.runOnLoop { self.startClosing(code: code, reason: reason, waiter: continuation) }
        }
    }

    /// Closes every socket of `sockets` with `code` and `reason` and returns once all have
    /// closed, each as `close(code:reason:)` does (a closing handshake bounded by the close
    /// timeout, which cancelling the caller does not cut short): every handshake starts at
    /// once, then the sockets are waited for in turn, so the whole takes about as long as the
    /// slowest one. No task per socket: a task group with one child per connection costs
    /// time proportional to the connections at every child that finishes (Swift's runtime
    /// walks its list of children), which at 16,000 connections made half of a server's
    /// drain.
    public static func close(_ sockets: [WebSocket], code: WebSocketCloseCode, reason: String) async {
        for socket in sockets {
            socket.eventLoop.runOnLoop { socket.startClosing(code: code, reason: reason, waiter: nil) }
        }
        for socket in sockets {
            _ = await withUnsafeContinuation { continuation in
                socket.eventLoop.runOnLoop { socket.addCloseWaiter(continuation) }
            }
        }
    }

    /// Starts the closing handshake without waiting for it, for code that runs on this
    /// socket's loop and cannot suspend (a `WebSocketResponder`). See `close(code:reason:)`.
    ///
    /// - Important: Call on `eventLoop` only.
    public func beginClosing(code: WebSocketCloseCode = .normalClosure, reason: String = "") {
        // Called elsewhere by mistake (from a task a responder started), it still runs on
        // the loop, later.
        eventLoop.runOnLoop { self.startClosing(code: code, reason: reason, waiter: nil) }
    }

    /// Waits until the connection has closed, without closing it, and returns how it
    /// ended. Cancelling the waiting task drops the connection (1006), as cancelling a wait
    /// for a message does.
    @discardableResult
    public func waitUntilClosed() async -> WebSocketCloseStatus {
        let wait = WaitCancellation()
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                eventLoop.runOnLoop {
                    if wait.isCancelled { self.beginClosingTransport(abort: true) }
                    self.addCloseWaiter(continuation)
                }
            }
        } onCancel: {
            wait.cancel()
            eventLoop.execute { self.beginClosingTransport(abort: true) }
        }
    }

    // MARK: Helpers

    /// The closing state, made on first use. Loop only.
    func closingState() -> WebSocketClosingState {
        if let closing { return closing }
        let made = WebSocketClosingState()
        closing = made
        return made
    }

    /// Runs `body` on the loop: inline when already there, otherwise with one hop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if eventLoop.inEventLoop { return try body() }
        return try await eventLoop.submit(body)
    }

    /// Waits for the transport to drain; a failure becomes the connection's close status.
    @usableFromInline
    func waitForDrain() async throws {
        do { try await transport.waitUntilWritable() } catch {
            // Safe to drop: a loop that has shut down leaves no status; abnormal closure stands in.
            let status = try? await onLoop { self.status }
            throw WebSocketClosedError(status: (status ?? nil) ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))
        }
        eventLoop.runOnLoop { self.sendDrained() }
    }

    /// How often to tick keep-alive: often enough to honour the shortest timer.
    static func tickInterval(_ keepAlive: WebSocketKeepAliveConfiguration) -> Duration? {
        let candidates = [keepAlive.pingInterval, keepAlive.idleTimeout, keepAlive.pingInterval.map { _ in keepAlive.pongTimeout }]
            .compactMap { $0 }
        guard let shortest = candidates.min() else { return nil }
        return max(.milliseconds(10), shortest / 4)
    }
}

/// What a `WebSocket` keeps once it is closing or closed (or someone waits for the close):
/// how it ended, the timer bounding the closing handshake, and who waits for the transport
/// to close. Out of line, so that an open connection keeps one empty reference instead.
///
/// Guarantees: confined to its socket's loop, like the socket's other state.
final class WebSocketClosingState {
    /// How the connection ended, once it has.
    var status: WebSocketCloseStatus?
    /// Armed while the closing handshake waits for the peer (`.armCloseTimer`).
    var timer: ScheduledWork?
    /// Resumed with the final status once the transport has closed.
    var waiters: [UnsafeContinuation<WebSocketCloseStatus, Never>] = []
}
