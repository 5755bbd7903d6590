import EddyShared

/// The sans-IO WebSocket protocol object for one connection (RFC 6455 §5–§7, with
/// RFC 7692 compression), modelled on Python `websockets`' `Protocol`.
///
/// The I/O layer drives it with:
/// - bytes in: `receiveData(_:)` for every read, `receiveEOF()` when the peer closed TCP;
/// - commands in: `sendText`, `sendBinary`, `sendPing`, `sendPong`, `sendClose`;
/// - time in: `tick(now:)` periodically (keep-alive), `closeTimerExpired()` when the
///   timer armed by `.armCloseTimer` fires;
/// and after each call collects
/// - `takeEvents()` — messages, pings, pongs and the final `.closed` for the application;
/// - `takeActions()` — bytes to write, timers to arm, and when to close the transport.
///
/// Guarantees:
/// - Nothing is done implicitly: no I/O, no clock reads, no threads; randomness only
///   through `WebSocketConfiguration.maskingKeySource`.
/// - Any peer violation fails the connection (§7.1.7): a Close frame with 1002, 1007
///   or 1009 is written, the state becomes `.closed`, `.closed` is emitted with the
///   error, and `.closeTransport` follows. Input after that is ignored.
/// - Every ping received while open is answered with a pong echoing its payload
///   (§5.5.2), even between fragments of a message (§5.4).
/// - Closing handshake (§5.5.1, §7): a received Close is answered by echoing its code
///   (an empty Close by an empty one) and the state becomes `.closed`; the server then
///   asks to close TCP, the client waits for the server to do it (arming the close
///   timer). After `sendClose`, data messages are ignored until the peer's Close.
/// - Limits: see `WebSocketConfiguration`; a violation is 1009 before the payload is
///   buffered (for compressed messages, while inflating).
///
/// - Important: not thread-safe; confine it to the connection's loop. Noncopyable
///   because it owns zlib streams.
public struct WebSocketProtocol: ~Copyable, Sendable {
    @usableFromInline
    enum State: Sendable {
        case open
        case closeSent
        /// Both Close frames exchanged or the connection failed.
        case closed
    }

    // Stored properties are laid out in declaration order: the one-byte ones follow
    // `keepAlive` (34 bytes) to fill its padding.
    /// The limits and timeouts this connection was made with.
    public var configuration: WebSocketConfiguration { shared.value }
    private let shared: SharedValue<WebSocketConfiguration>
    /// What the handshake agreed on (nil when neither a subprotocol nor deflate was).
    package let negotiated: WebSocketNegotiated?
    /// The negotiated subprotocol, if any (informational).
    public var subprotocol: String? { negotiated?.subprotocol }
    /// The negotiated permessage-deflate parameters, if any.
    public var deflateParameters: PerMessageDeflateParameters? { negotiated?.deflate }

    /// The frame decoder and the message being received, out of line: made when bytes
    /// arrive, dropped by `releaseIdleState()` between messages (see `WebSocketInboundState`).
    private var inbound: WebSocketInboundState?
    /// Present only when permessage-deflate was negotiated.
    @usableFromInline let compression: WebSocketDeflateState?
    private var keepAlive: WebSocketKeepAlive
    public let role: WebSocketRole
    @usableFromInline private(set) var state: State = .open
    private var closedEventSent = false
    /// Whether the input being read has completed a data message so far.
    private var inputCompletedMessage = false
    /// Whether the last `receiveData(_:from:)` call returned a lent message (so the next
    /// call resumes the same input after it).
    private var lentFromThisInput = false

    @usableFromInline private(set) var events: [WebSocketEvent] = []
    /// A protocol error found after a complete data message in the same input: reported by
    /// `failDeferred()`, once the driver has handed that message to the application (which
    /// may answer it first). Input is ignored meanwhile.
    private var deferredFailure: WebSocketProtocolError?
    @usableFromInline private(set) var actions: [WebSocketAction] = []
    @usableFromInline private(set) var outbox: [UInt8] = []

    /// - Parameters:
    ///   - deflate: the negotiated permessage-deflate parameters (nil: not negotiated).
    ///   - deflateConfiguration: local zlib settings (window cap, level, memLevel, threshold).
    public init(
        role: WebSocketRole,
        configuration: WebSocketConfiguration = WebSocketConfiguration(),
        deflate: PerMessageDeflateParameters? = nil,
        deflateConfiguration: PerMessageDeflateConfiguration = PerMessageDeflateConfiguration(),
        subprotocol: String? = nil
    ) {
        self.init(role: role, sharedConfiguration: SharedValue(configuration), deflate: deflate,
                  deflateConfiguration: deflateConfiguration, subprotocol: subprotocol)
    }

    /// As above, with a configuration shared by many connections (see
    /// `SharedValue`).
    package init(
        role: WebSocketRole,
        sharedConfiguration: SharedValue<WebSocketConfiguration>,
        deflate: PerMessageDeflateParameters?,
        deflateConfiguration: PerMessageDeflateConfiguration,
        subprotocol: String?
    ) {
        self.init(role: role, sharedConfiguration: sharedConfiguration,
                  negotiated: WebSocketNegotiated.make(subprotocol: subprotocol, deflate: deflate),
                  deflateConfiguration: deflateConfiguration)
    }

    /// As above, with what the handshake agreed on already boxed (the I/O layer keeps the
    /// same box, so a connection holds one copy of it, and none when nothing was agreed).
    package init(
        role: WebSocketRole,
        sharedConfiguration: SharedValue<WebSocketConfiguration>,
        negotiated: WebSocketNegotiated?,
        deflateConfiguration: PerMessageDeflateConfiguration
    ) {
        self.role = role
        self.shared = sharedConfiguration
        self.negotiated = negotiated
        if let deflate = negotiated?.deflate {
            let settings = PerMessageDeflateCodec.Settings(parameters: deflate, role: role, configuration: deflateConfiguration)
            self.compression = WebSocketDeflateState(codec: PerMessageDeflateCodec(settings: settings))
        } else {
            self.compression = nil
        }
        self.keepAlive = WebSocketKeepAlive()
    }

    /// The inbound state, made on first use (a fresh decoder between messages).
    private mutating func inboundState() -> WebSocketInboundState {
        if let inbound { return inbound }
        let configuration = shared.value
        let made = WebSocketInboundState(decoder: WebSocketFrameDecoder(
            role: role,
            limits: .init(maxFrameSize: configuration.maxFrameSize, maxMessageSize: configuration.maxMessageSize,
                          maxFragments: configuration.maxFragments),
            allowsCompression: compression != nil))
        inbound = made
        return made
    }

    /// Whether the out-of-line inbound state (decoder, message being received) exists now:
    /// from the first byte received until `releaseIdleState()` finds it between messages.
    public var holdsInboundState: Bool { inbound != nil }

    /// Drops the inbound state if nothing is pending in it (between messages: no partial
    /// header, frame or fragmented message), so an idle connection holds none. Safe at any
    /// time: the next bytes received make a fresh one. `tick(now:)` calls it when no frame
    /// arrived since the previous tick.
    public mutating func releaseIdleState() {
        guard let inbound else { return }
        if case .closed = state { self.inbound = nil; return }
        if inbound.isBetweenMessages { self.inbound = nil }
    }

    // MARK: - State

    /// OPEN, CLOSING (Close sent, waiting for the peer's) or CLOSED.
    ///
    /// Inlinable: a room's broadcast asks it once per member and message, and a call across
    /// the module boundary copies the whole protocol value to ask it.
    @inlinable
    public var connectionState: WebSocketConnectionState {
        switch state {
        case .open: return .open
        case .closeSent: return .closing
        case .closed: return .closed
        }
    }

    /// Whether permessage-deflate is in use on this connection.
    ///
    /// Inlinable: every send asks it, and a call across the module boundary copies the whole
    /// protocol value to ask it.
    @inlinable
    public var isCompressionEnabled: Bool { compression != nil }

    /// Whether a data message may be written by the driver itself, as one unmasked frame
    /// (`WebSocketFrameEncoder.withHeader`, then the payload, straight into its transport's
    /// buffer): true when that frame is exactly what `sendBinary`/`sendText` would produce
    /// now, in the same order: the connection is open, this is the server (no masking),
    /// nothing is compressed and no bytes or actions are pending. A data frame sent changes
    /// no protocol state, so the driver need not report it.
    ///
    /// Inlinable: asked once per message sent.
    @inlinable
    public var sendsPlainFrames: Bool {
        guard case .open = state, role == .server, compression == nil else { return false }
        return outbox.isEmpty && actions.isEmpty
    }

    /// Bytes held by zlib for this connection right now (measured).
    public var compressionMemory: Int { compression?.codec.allocatedBytes ?? 0 }

    /// Payload bytes deflated so far on this connection's sends, and the bytes deflate made of
    /// them (running totals, for metrics: the compression ratio is output / input).
    public var deflateTotals: (input: Int, output: Int) { compression?.totals ?? (0, 0) }

    /// What `deflateTotals` grew by since the previous call (for a driver that tallies
    /// metrics: no copy of the totals is kept outside the deflate state).
    package mutating func untalliedDeflateTotals() -> (input: Int, output: Int) {
        guard let compression else { return (0, 0) }
        let totals = compression.totals, tallied = compression.tallied
        compression.tallied = totals
        return (totals.input - tallied.input, totals.output - tallied.output)
    }

    // MARK: - Output

    /// Events since the last call, in order.
    public mutating func takeEvents() -> [WebSocketEvent] {
        defer { events = [] }
        return events
    }

    /// Moves the events since the last call to the end of `sink`, keeping this protocol's
    /// buffer capacity (no allocation per call, unlike `takeEvents()`).
    public mutating func drainEvents(into sink: inout [WebSocketEvent]) {
        if sink.isEmpty {
            swap(&sink, &events) // no copy, no reference counting per event
        } else {
            sink.append(contentsOf: events)
            events.removeAll(keepingCapacity: true)
        }
    }

    /// Moves the actions since the last call to the end of `sink`, keeping capacity.
    public mutating func drainActions(into sink: inout [WebSocketAction]) {
        flushOutbox()
        if sink.isEmpty {
            swap(&sink, &actions)
        } else {
            sink.append(contentsOf: actions)
            actions.removeAll(keepingCapacity: true)
        }
    }

    /// The fast path for a driver after `sendText`/`sendBinary`: when writing bytes is all
    /// there is to do, swaps the pending bytes into `buffer` (which must be empty) and
    /// takes `buffer`'s capacity in exchange, so a stream of sends that hands the same
    /// buffer back each time allocates no frame buffers. Returns false, changing nothing,
    /// when other actions are pending (then use `drainActions`). The driver writes
    /// `buffer` after this call returns: never while the protocol is being mutated, since
    /// a write can fail and feed the protocol an EOF.
    public mutating func swapPendingBytes(with buffer: inout [UInt8]) -> Bool {
        guard actions.isEmpty else { return false }
        swap(&outbox, &buffer)
        return true
    }

    /// Frees buffer capacity kept for reuse (see `swapPendingBytes`), for a connection
    /// going idle.
    public mutating func releaseIdleBuffers() {
        if outbox.isEmpty { outbox = [] }
        if events.isEmpty { events = [] }
        if actions.isEmpty { actions = [] }
    }

    /// `releaseIdleBuffers()` for the output buffer only when its capacity is above
    /// `limit` bytes: a connection that keeps working keeps a small buffer for reuse.
    public mutating func releaseIdleBuffers(largerThan limit: Int) {
        if outbox.isEmpty && outbox.capacity > limit { outbox = [] }
        if events.isEmpty && events.capacity > 64 { events = [] }
        if actions.isEmpty && actions.capacity > 64 { actions = [] }
    }

    /// Actions since the last call, in order; consecutive writes are one `.write`.
    public mutating func takeActions() -> [WebSocketAction] {
        flushOutbox()
        defer { actions = [] }
        return actions
    }

    private mutating func flushOutbox() {
        if !outbox.isEmpty {
            actions.append(.write(outbox))
            outbox = []
        }
    }

    private mutating func perform(_ action: WebSocketAction) {
        flushOutbox()
        actions.append(action)
    }

    // MARK: - Bytes in

    /// Feeds bytes read from the transport, in any chunking.
    public mutating func receiveData(_ bytes: [UInt8]) {
        var copy = bytes
        copy.withUnsafeMutableBytes { receiveData($0) }
    }

    /// Feeds bytes read from the transport. Payloads are unmasked in place in `buffer`
    /// (the caller's read buffer), so no extra copy is made for unmasking.
    public mutating func receiveData(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        _ = receive(buffer, from: &index, lending: false)
    }

    /// Feeds bytes read from the transport, as `receiveData(_:)` does, from `index` on, but
    /// stops at each data message that arrived whole in one frame (the usual case) and
    /// lends it instead of making an event of it: its payload is `buffer[lent.payload]`,
    /// unmasked in place, text already checked to be valid UTF-8. The caller takes the
    /// events and actions produced so far (they came before it), handles the message, then
    /// calls again with the same `index` until this returns nil (the input is used up).
    /// A lent message counts as a message this input completed: a protocol error found
    /// after it, in the same input, is deferred (`hasDeferredFailure`) as after a copied one.
    ///
    /// Nothing is copied for a lent message: a driver that hands the bytes to the
    /// application for the length of a call needs no buffer per message.
    public mutating func receiveData(
        _ buffer: UnsafeMutableRawBufferPointer, from index: inout Int
    ) -> WebSocketLentMessage? {
        receive(buffer, from: &index, lending: true)
    }

    /// Whether events or actions wait to be taken (`drainEvents`, `drainActions`).
    ///
    /// Inlinable: a driver asks it before each lent message.
    @inlinable
    public var hasPendingOutput: Bool { !events.isEmpty || !actions.isEmpty || !outbox.isEmpty }

    private mutating func receive(
        _ buffer: UnsafeMutableRawBufferPointer, from index: inout Int, lending: Bool
    ) -> WebSocketLentMessage? {
        // Resuming after a lent message: that message completed in this input.
        inputCompletedMessage = lending && lentFromThisInput
        lentFromThisInput = false
        defer { inputCompletedMessage = false }
        while true {
            if case .closed = state { return nil }
            if deferredFailure != nil { return nil }
            // The usual case: a whole unfragmented, uncompressed data frame in this input
            // becomes its message in one step (lent, or one copy; no reassembly buffer).
            // Asked of the stored state in place: no reference to it is kept (and counted)
            // across the call.
            if case .open = state, let (opcode, range) = inbound?.nextWholeMessage(buffer, index: &index) {
                if let lent = wholeMessageReceived(opcode, buffer, range, lending: lending) { return lent }
                continue
            }
            // The input is used up between frames (after the last lent message of a read):
            // nothing more to decode.
            if index >= buffer.count, let inbound, inbound.decoder.awaitsHeader { return nil }
            let inbound = inboundState()
            let event: WebSocketFrameDecoder.Event?
            do throws(WebSocketProtocolError) {
                event = try inbound.decoder.next(buffer, index: &index)
            } catch {
                fail(error)
                return nil
            }
            guard let event else { return nil }
            switch event {
            case .frameStart(let header):
                // As above, for a frame whose header came in pieces (or is 64 KiB or more),
                // and for the first frame, before the inbound state exists.
                if header.fin, !header.rsv1, header.opcode == .binary || header.opcode == .text,
                   case .open = state, case .none = inbound.message,
                   let range = inbound.decoder.takeWholePayload(buffer, index: &index) {
                    if let lent = wholeMessageReceived(header.opcode, buffer, range, lending: lending) { return lent }
                    continue
                }
                frameStarted(header, inbound)
            case .payload(let range):
                payloadReceived(UnsafeRawBufferPointer(rebasing: buffer[range]), inbound)
            case .frameEnd:
                frameEnded(inbound)
            }
        }
    }

    /// Whether a protocol error waits for `failDeferred()`: it came in the same input as a
    /// complete data message, after it. The driver delivers that message to the application
    /// (which may send a reply, as an echo server does) and then calls `failDeferred()`, so a
    /// valid message is never lost to a later error in the same read (Autobahn 3.2, 4.1.3,
    /// 5.15 …).
    public var hasDeferredFailure: Bool { deferredFailure != nil }

    /// Fails the connection with the deferred protocol error, if there is one.
    public mutating func failDeferred() {
        guard let error = deferredFailure else { return }
        deferredFailure = nil
        fail(error)
    }

    /// The peer closed the TCP connection (or it broke).
    public mutating func receiveEOF() {
        failDeferred() // a protocol error that came before the end is what ended it
        switch state {
        case .open, .closeSent:
            state = .closed
            emitClosed(WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))
            perform(.closeTransport)
        case .closed:
            perform(.closeTransport)
        }
    }

    /// A data message that came whole in one frame (FIN, no RSV1), at `range` of `buffer`:
    /// validated (text must be valid UTF-8, §8.1; otherwise 1007), then lent (returned) or
    /// made an event, as the frame-by-frame path would (`frameStarted`, `payloadReceived`,
    /// `frameEnded`). Nil when it became an event or failed the connection.
    private mutating func wholeMessageReceived(
        _ opcode: WebSocketOpcode, _ buffer: UnsafeMutableRawBufferPointer, _ range: Range<Int>, lending: Bool
    ) -> WebSocketLentMessage? {
        keepAlive.recordActivity()
        let payload = UnsafeRawBufferPointer(rebasing: buffer[range])
        if opcode == .text {
            var utf8 = UTF8Validator()
            guard utf8.validate(payload), utf8.isComplete else {
                fail(.init(.invalidUTF8))
                return nil
            }
        }
        if lending {
            lentFromThisInput = true
            return WebSocketLentMessage(opcode: opcode, payload: range)
        }
        events.append(opcode == .text ? .text(String(decoding: payload, as: UTF8.self)) : .binary(Array(payload)))
        inputCompletedMessage = true
        return nil
    }

    private mutating func frameStarted(_ header: WebSocketFrameHeader, _ inbound: WebSocketInboundState) {
        keepAlive.recordActivity()
        inbound.currentFrame = header
        if header.opcode.isControl {
            inbound.control.removeAll(keepingCapacity: true)
            return
        }
        guard case .open = state else { return }  // after sending Close, data is ignored
        if header.opcode != .continuation {
            inbound.message = .receiving(opcode: header.opcode, compressed: header.rsv1)
            inbound.payload = []
            // At most 64 KiB up front: a header alone must not cost the whole limit.
            if !header.rsv1 { inbound.payload.reserveCapacity(min(header.payloadLength, 64 * 1024)) }
            inbound.utf8.reset()
        }
    }

    private mutating func payloadReceived(_ bytes: UnsafeRawBufferPointer, _ inbound: WebSocketInboundState) {
        guard let header = inbound.currentFrame else { return }
        if header.opcode.isControl {
            inbound.control.append(contentsOf: bytes)
            return
        }
        guard case .open = state, case .receiving(let opcode, let compressed) = inbound.message else { return }
        let before = inbound.payload.count
        if compressed {
            // The decoder accepts RSV1 only when deflate was negotiated.
            guard let compression else { return fail(.init(.invalidCompressedData)) }
            switch compression.codec.decompress(bytes, into: &inbound.payload, limit: configuration.maxMessageSize) {
            case .ok: break
            case .tooLarge: return fail(.init(.messageTooLarge(limit: configuration.maxMessageSize)))
            case .invalid: return fail(.init(.invalidCompressedData))
            }
        } else {
            inbound.payload.append(contentsOf: bytes)
        }
        if opcode == .text { validateText(from: before, inbound) }
    }

    /// Validates `payload[from...]`, failing with 1007 at the first invalid byte.
    private mutating func validateText(from start: Int, _ inbound: WebSocketInboundState) {
        guard inbound.payload.count > start else { return }
        let valid = inbound.validatePayload(from: start)
        if !valid { fail(.init(.invalidUTF8)) }
    }

    private mutating func frameEnded(_ inbound: WebSocketInboundState) {
        guard let header = inbound.currentFrame else { return }
        inbound.currentFrame = nil
        if header.opcode.isControl {
            controlFrameReceived(header.opcode, payload: inbound.control)
            return
        }
        guard header.fin, case .open = state, case .receiving(let opcode, let compressed) = inbound.message else { return }
        if compressed {
            guard let compression else { return fail(.init(.invalidCompressedData)) }
            let before = inbound.payload.count
            switch compression.codec.finishMessage(into: &inbound.payload, limit: configuration.maxMessageSize) {
            case .ok: break
            case .tooLarge: return fail(.init(.messageTooLarge(limit: configuration.maxMessageSize)))
            case .invalid: return fail(.init(.invalidCompressedData))
            }
            if opcode == .text {
                validateText(from: before, inbound)
                guard case .open = state else { return }
            }
        }
        inbound.message = .none
        let payload = inbound.payload
        inbound.payload = []
        if opcode == .text {
            guard inbound.utf8.isComplete else { return fail(.init(.invalidUTF8)) }
            events.append(.text(String(decoding: payload, as: UTF8.self)))
        } else {
            events.append(.binary(payload))
        }
        inputCompletedMessage = true
    }

    private mutating func controlFrameReceived(_ opcode: WebSocketOpcode, payload: [UInt8]) {
        switch opcode {
        case .ping:
            // §5.5.2: answer with a pong carrying the same payload, unless we already sent Close.
            if case .open = state { writeFrame(.pong, payload: payload) }
            events.append(.ping(payload))
        case .pong:
            keepAlive.recordPong(payload)
            events.append(.pong(payload))
        case .close:
            switch WebSocketCloseFrame.parse(payload) {
            case .failure(let error):
                fail(error)
            case .success(let frame):
                closeFrameReceived(frame)
            }
        default:
            break
        }
    }

    private mutating func closeFrameReceived(_ frame: WebSocketCloseFrame) {
        let status = WebSocketCloseStatus(code: frame.code ?? .noStatusReceived, reason: frame.reason, wasClean: true)
        switch state {
        case .open:
            // §5.5.1: echo the status code; an empty Close is answered with an empty one.
            writeFrame(.close, payload: WebSocketCloseFrame(code: frame.code).encode())
            state = .closed
            discardInboundMessage()
            emitClosed(status)
            finishClosingHandshake()
        case .closeSent:
            state = .closed
            emitClosed(status)
            finishClosingHandshake()
        case .closed:
            break
        }
    }

    /// §7.1.1: the server closes TCP first; the client waits for it, bounded by the
    /// close timer.
    private mutating func finishClosingHandshake() {
        switch role {
        case .server: perform(.closeTransport)
        case .client: perform(.armCloseTimer(configuration.closeTimeout))
        }
    }

    private mutating func discardInboundMessage() {
        guard let inbound else { return }
        inbound.message = .none
        inbound.payload = []
    }

    /// Fails the connection (§7.1.7), or defers that while a message completed by the same
    /// input waits to be delivered (see `hasDeferredFailure`).
    private mutating func fail(_ error: WebSocketProtocolError) {
        if inputCompletedMessage, case .open = state, deferredFailure == nil {
            deferredFailure = error
            discardInboundMessage()
            return
        }
        switch state {
        case .open:
            writeFrame(.close, payload: WebSocketCloseFrame(code: error.closeCode, reason: error.description).encode())
        case .closeSent, .closed:
            break
        }
        let alreadyClosed: Bool
        if case .closed = state { alreadyClosed = true } else { alreadyClosed = false }
        state = .closed
        discardInboundMessage()
        emitClosed(WebSocketCloseStatus(code: error.closeCode, reason: error.description, wasClean: false, error: error))
        if !alreadyClosed { perform(.closeTransport) }
    }

    private mutating func emitClosed(_ status: WebSocketCloseStatus) {
        guard !closedEventSent else { return }
        closedEventSent = true
        events.append(.closed(status))
    }

    // MARK: - Commands

    /// Sends a text message, compressed when negotiated and above the threshold,
    /// optionally split into frames of at most `fragmentSize` payload bytes.
    public mutating func sendText(_ text: String, fragmentSize: Int? = nil) throws(WebSocketUsageError) {
        try sendMessage(Array(text.utf8), opcode: .text, fragmentSize: fragmentSize)
    }

    /// Sends a binary message (see `sendText`).
    public mutating func sendBinary(_ bytes: [UInt8], fragmentSize: Int? = nil) throws(WebSocketUsageError) {
        try sendMessage(bytes, opcode: .binary, fragmentSize: fragmentSize)
    }

    private mutating func sendMessage(_ bytes: [UInt8], opcode: WebSocketOpcode, fragmentSize: Int?) throws(WebSocketUsageError) {
        guard case .open = state else { throw .init(.notOpen) }
        // zlib fails only when out of memory; the message then goes uncompressed.
        if let compression, compression.codec.shouldCompress(count: bytes.count), let deflated = compression.codec.compress(bytes) {
            compression.totals.input += bytes.count
            compression.totals.output += deflated.count
            writeMessage(deflated, opcode: opcode, compressed: true, fragmentSize: fragmentSize)
        } else {
            writeMessage(bytes, opcode: opcode, compressed: false, fragmentSize: fragmentSize)
        }
    }

    private mutating func writeMessage(_ payload: [UInt8], opcode: WebSocketOpcode, compressed: Bool, fragmentSize: Int?) {
        let size = max(1, fragmentSize ?? Int.max)
        if payload.count <= size {
            writeFrame(opcode, payload: payload, rsv1: compressed)
            return
        }
        var offset = 0
        var first = true
        while offset < payload.count {
            let end = min(offset + size, payload.count)
            let slice = Array(payload[offset..<end])
            // RFC 7692 §6.1: RSV1 on the first frame only; continuations carry opcode 0.
            writeFrame(first ? opcode : .continuation, payload: slice, fin: end == payload.count, rsv1: first && compressed)
            first = false
            offset = end
        }
    }

    /// Sends a ping (payload ≤ 125 bytes, §5.5).
    public mutating func sendPing(_ payload: [UInt8] = []) throws(WebSocketUsageError) {
        guard case .open = state else { throw .init(.notOpen) }
        guard payload.count <= 125 else { throw .init(.controlPayloadTooLong) }
        writeFrame(.ping, payload: payload)
    }

    /// Sends an unsolicited pong (a unidirectional heartbeat, §5.5.3).
    public mutating func sendPong(_ payload: [UInt8] = []) throws(WebSocketUsageError) {
        guard case .open = state else { throw .init(.notOpen) }
        guard payload.count <= 125 else { throw .init(.controlPayloadTooLong) }
        writeFrame(.pong, payload: payload)
    }

    /// Starts the closing handshake (§7.1.2). The code must be one that may appear on
    /// the wire; the reason is truncated to fit 123 bytes on a character boundary.
    public mutating func sendClose(code: WebSocketCloseCode = .normalClosure, reason: String = "") throws(WebSocketUsageError) {
        guard code.isSendable else { throw .init(.invalidCloseCode(code.rawValue)) }
        guard case .open = state else { throw .init(.notOpen) }
        // The input broke after the message the application just handled: no Close from the
        // peer can be read any more, so the connection fails with that error instead.
        if deferredFailure != nil { return failDeferred() }
        writeFrame(.close, payload: WebSocketCloseFrame(code: code, reason: reason).encode())
        state = .closeSent
        discardInboundMessage()
        perform(.armCloseTimer(configuration.closeTimeout))
    }

    /// The close timer fired: the peer did not finish the closing handshake (or, for a
    /// client, the server did not close TCP) in time.
    public mutating func closeTimerExpired() {
        switch state {
        case .open:
            return
        case .closeSent:
            state = .closed
            emitClosed(WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))
            perform(.closeTransport)
        case .closed:
            perform(.closeTransport)
        }
    }

    /// Drives keep-alive: may send a ping, fail with 1011 on a missing pong, or close
    /// with 1001 when idle.
    public mutating func tick(now: ContinuousClock.Instant) {
        guard case .open = state else { return }
        // No frame since the previous tick: the connection is idle, so it holds no decoder.
        if !keepAlive.hasActivitySinceTick { releaseIdleState() }
        switch keepAlive.tick(now: now, configuration: shared.value.keepAlive) {
        case .none:
            break
        case .sendPing(let payload):
            writeFrame(.ping, payload: payload)
        case .pongTimedOut:
            writeFrame(.close, payload: WebSocketCloseFrame(code: .internalError, reason: "keepalive ping timeout").encode())
            state = .closed
            discardInboundMessage()
            emitClosed(WebSocketCloseStatus(code: .internalError, reason: "keepalive ping timeout", wasClean: false))
            perform(.closeTransport)
        case .idleTimedOut:
            // sendClose cannot fail here: the state is open and 1001 is valid.
            try? sendClose(code: .goingAway, reason: "idle timeout")
        }
    }

    /// Compresses with a stream shared by other connections (the I/O layer's per-loop pool,
    /// `SharedCompressorPool`) instead of an own one, when this side has no context
    /// takeover. `stream` is asked only then, for these settings.
    package mutating func shareCompressor(_ stream: (PerMessageDeflateCodec.Settings) -> ZlibDeflateStream?) {
        guard let compression, compression.codec.settings.compressNoContextTakeover else { return }
        if let stream = stream(compression.codec.settings) { compression.codec.shareCompressor(stream) }
    }

    /// Frees zlib streams that hold no context (directions without context takeover),
    /// e.g. when the connection goes idle. Safe at any time.
    public mutating func releaseCompressionMemory() {
        guard let compression else { return }
        if let inbound, case .receiving(_, true) = inbound.message { return }
        compression.codec.releaseIdleStreams()
    }

    private mutating func writeFrame(_ opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true, rsv1: Bool = false) {
        let key: WebSocketMaskingKey? = role == .client ? configuration.maskingKeySource.next() : nil
        WebSocketFrameEncoder.append(opcode: opcode, fin: fin, rsv1: rsv1, payload: payload, maskingKey: key, to: &outbox)
    }
}

/// What a `WebSocketProtocol` keeps while frames arrive: the frame decoder, the frame being
/// read and the data message being reassembled (its payload, its UTF-8 state). Kept out of
/// line so that an idle connection holds none of it: the protocol makes one at the first
/// byte received and drops it between messages (`releaseIdleState()`).
///
/// Guarantees: confined to its protocol (and so to the connection's loop); between messages
/// (`isBetweenMessages`) it holds nothing a fresh one would not, so dropping it changes no
/// behaviour.
final class WebSocketInboundState: @unchecked Sendable {
    /// The data message being received.
    enum Message {
        case none
        case receiving(opcode: WebSocketOpcode, compressed: Bool)
    }

    // Touched for every frame: no dynamic exclusivity check per access (a class property
    // would get one; the protocol's confinement to one thread and its structure, which never
    // holds one access across another, already rule out overlapping accesses).
    @exclusivity(unchecked) var decoder: WebSocketFrameDecoder
    @exclusivity(unchecked) var currentFrame: WebSocketFrameHeader?
    @exclusivity(unchecked) var message: Message = .none
    @exclusivity(unchecked) var payload: [UInt8] = []
    @exclusivity(unchecked) var control: [UInt8] = []
    @exclusivity(unchecked) var utf8 = UTF8Validator()

    init(decoder: WebSocketFrameDecoder) {
        self.decoder = decoder
    }

    /// The next frame when it is a whole data message (see
    /// `WebSocketFrameDecoder.nextWholeDataFrame`) and no message is being reassembled.
    func nextWholeMessage(_ buffer: UnsafeMutableRawBufferPointer, index: inout Int) -> (opcode: WebSocketOpcode, payload: Range<Int>)? {
        guard case .none = message else { return nil }
        return decoder.nextWholeDataFrame(buffer, index: &index)
    }

    /// No partial header, frame or fragmented message is pending.
    var isBetweenMessages: Bool {
        guard decoder.isBetweenMessages, currentFrame == nil, case .none = message else { return false }
        return true
    }

    /// Feeds `payload[start...]` to the UTF-8 validator; false at the first invalid byte.
    func validatePayload(from start: Int) -> Bool {
        payload.withUnsafeBytes { raw in utf8.validate(UnsafeRawBufferPointer(rebasing: raw[start...])) }
    }
}

/// The permessage-deflate state of a connection that negotiated it (out of line, so a
/// connection without deflate pays one empty reference): its codec and the running totals
/// of what its sends deflated.
///
/// Guarantees: confined to its protocol (and so to the connection's loop).
@usableFromInline
final class WebSocketDeflateState: @unchecked Sendable {
    var codec: PerMessageDeflateCodec
    var totals: (input: Int, output: Int) = (0, 0)
    /// What `untalliedDeflateTotals()` last reported of `totals`.
    var tallied: (input: Int, output: Int) = (0, 0)

    init(codec: consuming PerMessageDeflateCodec) {
        self.codec = codec
    }
}

/// What the opening handshake agreed on, shared by a connection's protocol and its I/O
/// driver, and by every connection that agreed on the same (an endpoint's connections
/// mostly do); nil (no box) when nothing was agreed.
///
/// Guarantees: immutable, so it can be read from any thread; at most
/// `internedLimit` distinct agreements are kept for sharing (others get a box of their own).
package final class WebSocketNegotiated: Sendable {
    package let subprotocol: String?
    package let deflate: PerMessageDeflateParameters?

    private init(subprotocol: String?, deflate: PerMessageDeflateParameters?) {
        self.subprotocol = subprotocol
        self.deflate = deflate
    }

    private struct Key: Hashable {
        let subprotocol: String?
        let deflate: PerMessageDeflateParameters?
    }

    /// Agreements come from a small set (the server's subprotocols, a few window sizes and
    /// flags); the bound keeps a client that picks unusual ones from growing the table.
    package static let internedLimit = 256
    private static let interned = Mutex<[Key: WebSocketNegotiated]>([:])

    /// The box for this agreement (shared with earlier connections that made the same one),
    /// or nil when there is nothing to keep.
    package static func make(subprotocol: String?, deflate: PerMessageDeflateParameters?) -> WebSocketNegotiated? {
        if subprotocol == nil && deflate == nil { return nil }
        let key = Key(subprotocol: subprotocol, deflate: deflate)
        return interned.withLock { table in
            if let shared = table[key] { return shared }
            let made = WebSocketNegotiated(subprotocol: subprotocol, deflate: deflate)
            if table.count < internedLimit { table[key] = made }
            return made
        }
    }
}
