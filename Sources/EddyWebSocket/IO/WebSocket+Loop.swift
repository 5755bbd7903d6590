import EddyMetrics
import EddyWebSocketCore
import EddyLoop
public import EddyNet

/// The loop side of a `WebSocket`: everything here runs on `eventLoop`'s thread, is
/// synchronous, and is the only code that touches the socket's state.
extension WebSocket: ByteStreamReceiver {
    // MARK: Receiving

    /// Processes the bytes that came with the handshake, then receives from the stream.
    func start(leftover: [UInt8], keepAliveTick: Duration?) {
        proto.shareCompressor { SharedCompressorPool.on(eventLoop).stream(for: $0) }
        if let keepAliveTick, status == nil { KeepAliveTicker.on(eventLoop).add(self, every: keepAliveTick) }
        if let responder {
            // `serve` must not return before `webSocketDidClose`: the listener's table keeps
            // the connection until `transportDidClose` says the driver is done.
            transport.driverFinishesAfterClose()
            let entered = driver.enterCallback()
            responder.webSocketDidOpen(self)
            if entered { driver.leaveCallback() }
        }
        if !leftover.isEmpty {
            var bytes = leftover
            bytes.withUnsafeMutableBytes { proto.receiveData($0) }
            protocolAdvanced()
        }
        if !state.transportClosing { transport.startReceiving(self) }
    }

    public func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
        // The protocol unmasks payloads in place in the loop's receive buffer. For a task,
        // it copies out the messages it completes; a responder is lent each message that
        // came whole in one frame, between the protocol's steps.
        LoopTally.add(.bytesReceived, bytes.count)
        // Output held back on the loop leaves before what this read makes the socket write
        // (a pong, a Close), and before the protocol's state can change under it.
        eventLoop.handOverHeldOutput()
        guard let responder = routeLinks?.unretainedResponder else {
            proto.receiveData(bytes)
            return protocolAdvanced()
        }
        receive(bytes, lendingTo: responder)
    }

    /// The bytes of a read, each message that came whole lent to `responder`.
    ///
    /// The responder is not retained for the read. Every connection of the route, on every
    /// loop, shares it, so a retain and a release per read were two atomic writes to one
    /// cache line that the loops' cores took from each other. Safe without: this socket
    /// holds `routeLinks` in a `let`, the links hold the responder in a `let`, and the caller
    /// holds this socket for the call.
    private func receive(_ bytes: UnsafeMutableRawBufferPointer, lendingTo responder: Unmanaged<RouteResponder>) {
        var index = 0
        while let lent = proto.receiveData(bytes, from: &index) {
            // What came before it (a reassembled message, a pong) goes first.
            if proto.hasPendingOutput || !events.isEmpty { protocolAdvanced() }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[lent.payload])
            responder._withUnsafeGuaranteedRef { lend(lent.opcode, payload, to: $0) }
        }
        protocolAdvanced()
    }

    /// Hands a whole message to the responder as a view of the receive buffer. During a
    /// responder call (bytes that arrive re-entrantly) or behind messages not yet delivered,
    /// it is copied and queued behind them instead.
    private func lend(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, to responder: RouteResponder) {
        LoopTally.add(.messagesReceived)
        guard events.isEmpty, status == nil, driver.enterCallback() else {
            events.append(WebSocketMessage(copying: payload, as: opcode == .text ? .text : .binary).event)
            bufferedBytes += payload.count
            return
        }
        // unsafe boundary: the span covers the message's payload in the loop's receive
        // buffer, which stays valid and unchanged for the whole call (the responder copies
        // what it keeps; a span cannot escape the call).
        responder.webSocket(self, didReceive: RawSpan(_unsafeBytes: payload), as: opcode == .text ? .text : .binary)
        driver.leaveCallback()
    }

    public func streamDidEnd(_ error: (any Error)?) {
        eventLoop.handOverHeldOutput()
        proto.receiveEOF() // abnormal (1006) unless the closing handshake already ended it
        protocolAdvanced()
    }

    /// Takes what the protocol produced after input, a timer or a send: records the close
    /// status, carries out the actions, hands a message to a waiting consumer, and stops
    /// reading while too much waits for the consumer.
    func protocolAdvanced() {
        // The usual end of a read that a responder answered: the protocol produced nothing,
        // and no message or outcome waits. Then the steps below would find nothing to do;
        // only a large message's buffers may be left to free.
        if !proto.hasPendingOutput, events.isEmpty, !proto.hasDeferredFailure, status == nil || consumer == nil {
            if responder != nil { releaseLargeBuffers() }
            return
        }
        absorbEvents()
        _ = try? performActions() // the transport closes on the protocol's .closeTransport
        deliver()
        failDeferredOnceDelivered()
        if consumer == nil, bufferedBytes > Self.bufferedMessageBytes, proto.connectionState == .open {
            apply(state.pauseForConsumer())
        }
    }

    /// A protocol error that came in the same read as a message, after it, fails the
    /// connection only once the application has taken every message before it (a responder
    /// has been called; a task has come back for the next message), so that its answer to
    /// them (an echo) goes out before the Close.
    func failDeferredOnceDelivered() {
        guard proto.hasDeferredFailure, eventIndex == events.count, responder != nil || consumer != nil else { return }
        proto.failDeferred()
        absorbEvents()
        _ = try? performActions() // the transport closes on the protocol's .closeTransport
        deliver()
    }

    /// Moves the protocol's new events into `events`, keeping data messages only (pings
    /// and pongs are handled inside the protocol; a close becomes `status`).
    private func absorbEvents() {
        let first = events.count
        proto.drainEvents(into: &events)
        var kept = first
        for index in first..<events.count {
            let event = events[index]
            switch event {
            case .text(let text):
                bufferedBytes += text.utf8.count
                LoopTally.add(.messagesReceived)
            case .binary(let bytes):
                bufferedBytes += bytes.count
                LoopTally.add(.messagesReceived)
            case .closed(let closed):
                record(closed)
                continue
            case .ping, .pong:
                continue
            }
            if kept != index { events[kept] = event }
            kept += 1
        }
        if kept < events.count { events.removeSubrange(kept...) }
    }

    private func record(_ closed: WebSocketCloseStatus) {
        guard status == nil else { return }
        status = closed
        stopKeepAlive()
    }

    // MARK: The consumer

    /// The consumer's next outcome if there is one now: a message, the end (nil) or the
    /// error the connection ended with. Nil while the consumer must wait.
    @usableFromInline
    func takeNext() -> Result<WebSocketMessage?, any Error>? {
        if eventIndex < events.count {
            // Moved out, not copied: no reference counting for the payload.
            var event = WebSocketEvent.pong([])
            swap(&event, &events[eventIndex])
            eventIndex += 1
            if eventIndex == events.count {
                events.removeAll(keepingCapacity: true)
                eventIndex = 0
            }
            switch event {
            case .text(let text):
                bufferedBytes -= text.utf8.count
                resumeReceivingIfDrained()
                return .success(.text(text))
            case .binary(let bytes):
                bufferedBytes -= bytes.count
                resumeReceivingIfDrained()
                return .success(.binary(bytes))
            case .ping, .pong, .closed:
                return takeNext() // not kept by absorbEvents; for completeness
            }
        }
        if let status {
            return status.isNormal ? .success(nil) : .failure(WebSocketClosedError(status: status))
        }
        return nil
    }

    /// Parks the consumer until the loop has an outcome for it. `wait`, for a cancellable
    /// wait, says whether its task was cancelled before the park ran (the cancellation
    /// then has nothing to resume yet).
    func park(_ continuation: UnsafeContinuation<WebSocketMessage?, any Error>, wait: WaitCancellation? = nil) {
        if let wait, wait.isCancelled {
            continuation.resume(throwing: CancellationError())
            return beginClosingTransport(abort: true)
        }
        if responder != nil, status == nil {
            return continuation.resume(throwing: IOError(.readInProgress, operation: "WebSocket messages (they go to the socket's responder)"))
        }
        if let ready = takeNext() { return continuation.resume(with: ready) }
        if consumer != nil {
            return continuation.resume(throwing: IOError(.readInProgress, operation: "WebSocket messages (one consumer at a time)"))
        }
        consumer = continuation
        consumerWait = wait
        if proto.hasDeferredFailure { return failDeferredOnceDelivered() }
        // Waiting means idle: hold no buffers while idle.
        if events.isEmpty && events.capacity > 0 { events = [] }
        if spareActions.capacity > 0 { spareActions = [] }
        proto.releaseIdleBuffers()
        if spareFrame.capacity > 0 { spareFrame = [] }
        resumeReceivingIfDrained()
    }

    func deliver() {
        if let responder { return deliver(to: responder) }
        // Taken out first: `takeNext` may resume reading, and a failure there ends the
        // stream, which delivers again (re-entrantly) to whatever consumer is parked.
        guard let consumer else { return }
        self.consumer = nil
        let wait = consumerWait
        consumerWait = nil
        guard let outcome = takeNext() else {
            self.consumer = consumer
            consumerWait = wait
            return
        }
        consumer.resume(with: outcome)
    }

    /// Hands every complete message to the responder, in order. A delivery that starts
    /// while a responder call runs (the responder closed or sent, which advanced the
    /// protocol) leaves the messages to the loop below.
    private func deliver(to responder: RouteResponder) {
        guard driver.enterCallback() else { return }
        defer { driver.leaveCallback() }
        while case .success(let message?) = takeNext() {
            responder.webSocket(self, didReceive: message)
        }
        releaseLargeBuffers()
    }

    /// A responder-driven socket never parks (where a task's socket frees its buffers), so
    /// after each delivery it frees the buffers that a large message left behind; small
    /// ones are kept for reuse.
    private func releaseLargeBuffers() {
        let limit = 4096
        if spareFrame.capacity > limit { spareFrame = [] }
        if events.isEmpty && events.capacity > 64 { events = [] }
        proto.releaseIdleBuffers(largerThan: limit)
    }

    /// A responder's send left the transport above its high watermark: read nothing more
    /// (the peer meets TCP backpressure) until the outbound queue has drained.
    func stopReadingUntilWritable() {
        guard let change = state.backUp() else { return }
        apply(change)
        let transport = self.transport
        Task(executorPreference: eventLoop) {
            // Safe to drop: a failed wait means the transport closed, which ends the connection anyway.
            try? await transport.waitUntilWritable()
            self.eventLoop.runOnLoop { self.writableAgain() }
        }
    }

    /// A task's `send` saw the transport drain.
    func sendDrained() {
        state.sendDrained()
    }

    private func writableAgain() {
        apply(state.writableAgain())
    }

    /// Tells the transport what a transition of `state` decided.
    private func apply(_ change: WebSocketConnectionState.ReadingChange) {
        switch change {
        case .none: break
        case .pause: transport.pauseReceiving()
        case .resume: transport.resumeReceiving()
        }
    }

    /// The task of the wait `wait` was cancelled: if that wait is parked, it gets
    /// `CancellationError`, and the connection is dropped, as when a task reading a
    /// `ByteStream` is cancelled. (If it is not parked yet, `park` sees the flag.)
    func cancelConsumer(_ wait: WaitCancellation) {
        guard let consumer, consumerWait === wait else { return }
        self.consumer = nil
        consumerWait = nil
        consumer.resume(throwing: CancellationError())
        beginClosingTransport(abort: true)
    }

    private func resumeReceivingIfDrained() {
        guard bufferedBytes <= Self.bufferedMessageBytes / 2 else { return }
        apply(state.consumerCaughtUp())
    }

    // MARK: Sending and actions

    /// Hands a message to the protocol and writes its frames. Returns whether the
    /// transport is now above its high watermark.
    @usableFromInline
    func sendOnLoop(_ message: WebSocketMessage) throws -> Bool {
        let backedUp = try queue(message)
        // A task's `send` now waits for the drain (`waitForDrain`, then `sendDrained`).
        if backedUp && responder == nil { state.sendWaitsForDrain() }
        return backedUp
    }

    /// Hands a message to the protocol and writes its frames, without marking anyone as
    /// waiting (`sendOnLoop` does, for `send`). Returns whether the transport is now above
    /// its high watermark.
    func queue(_ message: WebSocketMessage) throws -> Bool {
        guard !state.transportClosing else { throw closedError() }
        // The usual case on a server: the frame's header and payload go straight into the
        // transport's buffer (no frame is built first).
        if proto.sendsPlainFrames {
            switch message {
            case .binary(let bytes): return try writePlainFrame(.binary, bytes.span.bytes)
            case .text(let text): return try writePlainFrame(.text, text.utf8.span.bytes)
            }
        }
        do {
            switch message {
            case .text(let text): try proto.sendText(text)
            case .binary(let bytes): try proto.sendBinary(bytes)
            }
        } catch {
            throw closedError()
        }
        LoopTally.add(.messagesSent)
        if proto.isCompressionEnabled { tallyDeflate() }
        // Usually the frame is all there is: take it in a buffer reused across sends, and
        // write it once the protocol is no longer being accessed (a failed write closes the
        // transport, which feeds the protocol an EOF synchronously).
        var frame = spareFrame
        spareFrame = []
        guard proto.swapPendingBytes(with: &frame) else {
            spareFrame = frame
            return try performActions()
        }
        let backedUp: Bool
        LoopTally.add(.bytesSent, frame.count)
        do {
            eventLoop.handOverHeldOutput()
            backedUp = try !transport.writeWithoutWaiting(frame)
        } catch {
            throw transportBroke()
        }
        frame.removeAll(keepingCapacity: true)
        spareFrame = frame
        return backedUp
    }

    /// `queue(_:)` for a message given as bytes: written straight from them when the
    /// protocol allows (see `sendsPlainFrames`), else copied into a message.
    func queue(_ bytes: RawSpan, as kind: WebSocketMessageKind) throws -> Bool {
        if kind == .text {
            let valid = bytes.withUnsafeBytes { raw in
                var utf8 = UTF8Validator()
                return utf8.validate(raw) && utf8.isComplete
            }
            guard valid else { throw WebSocketUsageError.invalidUTF8Text }
        }
        guard !state.transportClosing else { throw closedError() }
        if proto.sendsPlainFrames { return try writePlainFrame(kind == .text ? .text : .binary, bytes) }
        return try queue(bytes.withUnsafeBytes { WebSocketMessage(copying: $0, as: kind) })
    }

    /// Writes one unmasked, uncompressed data frame (see `sendsPlainFrames`). Returns
    /// whether the transport is now above its high watermark.
    private func writePlainFrame(_ opcode: WebSocketOpcode, _ payload: RawSpan) throws -> Bool {
        LoopTally.add(.messagesSent)
        let header = WebSocketFrameHeader(fin: true, opcode: opcode, payloadLength: payload.byteCount)
        do {
            return try WebSocketFrameEncoder.withHeader(header) { headerBytes in
                LoopTally.add(.bytesSent, headerBytes.byteCount + payload.byteCount)
                eventLoop.handOverHeldOutput()
                return try !transport.writeWithoutWaiting(headerBytes, payload)
            }
        } catch {
            throw transportBroke()
        }
    }

    /// Carries out what the protocol asked for, in order. Frames are queued on the
    /// transport without waiting, so control frames (pongs, the Close) never wait behind
    /// backpressure. Returns whether the transport is above its high watermark; throws
    /// `WebSocketClosedError` when it broke (the connection then ends with 1006).
    @discardableResult
    func performActions() throws -> Bool {
        var backedUp = false
        var broken = false
        var actions = spareActions
        spareActions = []
        proto.drainActions(into: &actions)
        for action in actions {
            switch action {
            case .write(let bytes):
                guard !state.transportClosing, !broken else { continue }
                LoopTally.add(.bytesSent, bytes.count)
                do {
                    eventLoop.handOverHeldOutput()
                    if try !transport.writeWithoutWaiting(bytes) { backedUp = true }
                } catch {
                    broken = true
                }
            case .armCloseTimer(let timeout):
                let closing = closingState()
                closing.timer?.cancel()
                closing.timer = eventLoop.schedule(after: timeout) { [weak self] in self?.closeTimerFired() }
            case .closeTransport:
                beginClosingTransport()
            }
        }
        actions.removeAll(keepingCapacity: true)
        spareActions = actions
        if broken { throw transportBroke() }
        return backedUp
    }

    /// Tallies what deflate took in and gave out since the last report (the protocol keeps
    /// running totals and what was tallied of them).
    private func tallyDeflate() {
        let untallied = proto.untalliedDeflateTotals()
        LoopTally.add(.deflateInputBytes, untallied.input)
        LoopTally.add(.deflateOutputBytes, untallied.output)
    }

    /// A write failed: the connection ends abnormally (1006). Returns the error to throw.
    private func transportBroke() -> WebSocketClosedError {
        proto.receiveEOF()
        beginClosingTransport(abort: true)
        protocolAdvanced()
        return closedError()
    }

    func closedError() -> WebSocketClosedError {
        WebSocketClosedError(status: status ?? WebSocketCloseStatus(code: .normalClosure, wasClean: false))
    }

    // MARK: Closing

    func startClosing(code: WebSocketCloseCode, reason: String, waiter: UnsafeContinuation<WebSocketCloseStatus, Never>?) {
        if let waiter { addCloseWaiter(waiter) }
        if state.transport == .closed { return }
        // Output held back on the loop (a room's per-iteration delivery) leaves before the
        // Close, as it would have if it had not been held.
        eventLoop.handOverHeldOutput()
        // Safe to drop: sendClose fails only for a state that is not open, checked here.
        if proto.connectionState == .open { try? proto.sendClose(code: code, reason: reason) }
        // Read on until the peer's Close arrives, even if the consumer stopped reading or a
        // responder waits for the drain.
        apply(state.closingHandshakeStarted())
        protocolAdvanced()
    }

    /// Flushes what is queued (the Close frame), sends FIN, then releases the socket; with
    /// `abort`, releases it at once. A peer that does not read could hold the flush
    /// forever: the close timeout bounds it. Idempotent.
    func beginClosingTransport(abort: Bool = false) {
        guard state.beginClosingTransport() else { return }
        closing?.timer?.cancel()
        closing?.timer = nil
        stopKeepAlive()
        let transport = self.transport
        let timeout = proto.configuration.closeTimeout
        let loop = eventLoop
        Task(executorPreference: loop) {
            if !abort {
                let deadline = loop.schedule(after: timeout) {
                    Task(executorPreference: loop) { await transport.close() }
                }
                // Safe to drop: the close timer and the close below end the transport either way.
                try? await transport.shutdownWrite()
                deadline.cancel()
            }
            await transport.close()
            loop.execute { self.transportDidClose() }
        }
    }

    /// `waiter` is resumed once the transport has closed (at once if it has).
    func addCloseWaiter(_ waiter: UnsafeContinuation<WebSocketCloseStatus, Never>) {
        if state.transport == .closed { return waiter.resume(returning: finalStatus) }
        closingState().waiters.append(waiter)
    }

    private func transportDidClose() {
        state.transportDidClose()
        if status == nil { record(WebSocketCloseStatus(code: .abnormalClosure, wasClean: false)) }
        LoopTally.add(.closed(code: finalStatus.code.rawValue))
        deliver()
        // The responder first: whoever waits for the close (`close()`, `waitUntilClosed()`)
        // then knows it has run.
        responder?.webSocketDidClose(self, status: finalStatus)
        openSockets?.closed(self)
        let waiters = closing?.waiters ?? []
        closing?.waiters = []
        for waiter in waiters { waiter.resume(returning: finalStatus) }
        // Last: a listener keeps a responder's connection until this (see `start`).
        if responder != nil { transport.driverFinished() }
    }

    private var finalStatus: WebSocketCloseStatus {
        status ?? WebSocketCloseStatus(code: .abnormalClosure, wasClean: false)
    }

    // MARK: Timers

    private func closeTimerFired() {
        proto.closeTimerExpired()
        protocolAdvanced()
    }

    /// The socket has waited a tick more for a peer that does not read what it is sent (a
    /// responder's socket stops reading meanwhile, a task's `send` is suspended and its
    /// unread messages soon pause reading too, so keep-alive cannot judge the peer). After
    /// the pong timeout, the peer is given up on as if it had missed a pong: 1011, dropped.
    private func outboundStillBlocked() {
        let stalledTicks = state.countStalledTick()
        let keepAlive = proto.configuration.keepAlive
        guard let tick = Self.tickInterval(keepAlive), tick * Int(stalledTicks) >= keepAlive.pongTimeout else { return }
        record(WebSocketCloseStatus(code: .internalError, reason: "peer stopped reading", wasClean: false))
        beginClosingTransport(abort: true)
    }

    private func stopKeepAlive() {
        guard keepAliveSlot >= 0, let interval = Self.tickInterval(proto.configuration.keepAlive) else { return }
        KeepAliveTicker.on(eventLoop).remove(self, every: interval)
    }

    func keepAliveTick() {
        guard status == nil else { return }
        if state.outboundBlocked { return outboundStillBlocked() }
        // While reading is paused for a slow consumer the peer's pongs and frames wait
        // unread: judging its liveness then would fail a healthy peer.
        guard !state.readingPaused else { return }
        proto.tick(now: .now)
        protocolAdvanced()
    }
}
