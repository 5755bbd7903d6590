public import EddyLoop
import EddyMetrics
public import EddyWebSocket

/// One connection's bounded send queue, between publishers and the socket.
///
/// Guarantees:
/// - `offer` never waits (except with the `.suspend` policy, through `send`): a slow
///   connection costs its publishers nothing; what happens when it falls behind is the
///   policy's business (drop, conflate, close with 1008/1013).
/// - The bytes held for the connection never exceed the limits (see `OutboxQueue`),
///   plus what the transport holds under its own high watermark.
/// - Messages leave in offer order (policies only remove); control frames (pongs, the
///   close) never wait in the outbox, they go straight to the socket.
/// - State is confined to the socket's loop; `offer` may be called from anywhere.
public final class Outbox: @unchecked Sendable {
    public let socket: WebSocket
    public let policy: OutboxPolicy

    // Loop-thread state, `@exclusivity(unchecked)` as the socket's own (WebSocket.swift): only
    // the loop's thread touches it, and every access is a read, a store or a call into a
    // value type that calls nothing back, so no two accesses overlap. A room's broadcast
    // touches these once per member and message.
    @exclusivity(unchecked) private var queue: OutboxQueue<[UInt8]>
    /// The socket reported backpressure; a writer task waits for it to drain.
    @exclusivity(unchecked) private var blocked = false
    /// `send` callers waiting for room, in order, with the frame they want queued.
    @exclusivity(unchecked) private var waiting: [(frame: [UInt8], key: String?, continuation: UnsafeContinuation<Void, Never>)] = []
    @exclusivity(unchecked) private var closed = false
    /// `.catchUp`: makes the message that replaces what was discarded while behind.
    private let makeCatchUp: (@Sendable () -> [UInt8]?)?
    /// What `tallyQueue` has reported to the loop's metric tallies.
    @exclusivity(unchecked) private var tallied = (queued: 0, dropped: 0, catchUps: 0)

    /// - Parameter catchUp: with `.catchUp`, called on the loop once a connection that fell
    ///   behind has drained; returns the framed message that stands for everything
    ///   discarded (typically a snapshot of the latest state), or `nil` to close the
    ///   connection with 1011.
    public init(socket: WebSocket, policy: OutboxPolicy, limits: OutboxLimits = OutboxLimits(),
                catchUp: (@Sendable () -> [UInt8]?)? = nil) {
        self.socket = socket
        self.policy = policy
        self.queue = OutboxQueue(policy: policy, limits: limits)
        self.makeCatchUp = catchUp
    }

    public var eventLoop: EventLoop { socket.eventLoop }

    /// Offers a framed message (from `PreparedMessage`); never waits.
    public func offer(frame: [UInt8], key: String? = nil) {
        eventLoop.runOnLoop { self.enqueue(frame: frame, key: key) }
    }

    /// Sends a framed message, waiting for room with the `.suspend` policy (other
    /// policies behave as `offer`). For one-to-one streams.
    public func send(frame: [UInt8], key: String? = nil) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            eventLoop.runOnLoop { self.enqueueWaiting(frame: frame, key: key, continuation) }
        }
    }

    /// This outbox's counters.
    public func counters() async -> OutboxCounters {
        if eventLoop.inEventLoop { return queue.counters }
        // Safe to drop: only a loop that has shut down refuses, and then the outbox is gone.
        return (try? await eventLoop.submit { self.queue.counters }) ?? OutboxCounters()
    }

    /// Counters, read on the loop thread (for a room's shard, which runs there).
    var countersOnLoop: OutboxCounters { queue.counters }

    // MARK: Loop thread

    private func enqueue(frame: [UInt8], key: String?) {
        guard !closed else { return }
        if !blocked && queue.isEmpty && !queue.isBehind {
            // Nothing waits and the socket keeps up: straight to the socket, no queueing.
            passThrough(frame)
            return
        }
        switch queue.offer(.init(payload: frame, byteCount: frame.count, key: key)) {
        case .enqueued, .enqueuedReplacing, .enqueuedDroppingOldest, .droppedNewest, .fellBehind, .discardedBehind:
            pump()
        case .full:
            // `.suspend` through `offer`: a publisher must not wait, so the message is
            // dropped and counted (use `send` to wait for room).
            queue.recordDrop()
            pump()
        case .close(let code, let reason):
            closeForSlowness(code: code, reason: reason)
        }
        tallyQueue()
    }

    /// `offer(frame:key:)` for code already on the outbox's loop (a room shard): no closure
    /// to build and hand to the loop, per member and message.
    func offerOnLoop(frame: [UInt8], key: String?) {
        assert(eventLoop.inEventLoop, "offerOnLoop off the outbox's loop")
        enqueue(frame: frame, key: key)
    }

    /// Offers several framed messages at once, on the outbox's loop (a room shard's burst).
    /// While the socket keeps up they go down in calls of up to `passThroughBytes` (as
    /// `pump` sends them), so the transport holds at most that much over its high
    /// watermark; from the moment it pushes back, the rest is offered one by one under the
    /// policy. `keys[i]` is `frames[i]`'s conflation key.
    func offerOnLoop(frames: [[UInt8]], keys: [String?]) {
        assert(eventLoop.inEventLoop, "offerOnLoop off the outbox's loop")
        var next = frames.startIndex
        while next < frames.endIndex, !closed, !blocked, queue.isEmpty, !queue.isBehind {
            var end = next
            var bytes = 0
            while end < frames.endIndex && (end == next || bytes + frames[end].count <= Self.passThroughBytes) {
                bytes += frames[end].count
                end += 1
            }
            let chunk = next == frames.startIndex && end == frames.endIndex ? frames : Array(frames[next..<end])
            guard passThrough(chunk) else { return }
            next = end
        }
        while next < frames.endIndex {
            enqueue(frame: frames[next], key: keys[next])
            next += 1
        }
    }

    /// `offerOnLoop(frames:keys:)` for a burst shared by many members: while the socket
    /// keeps up, the frames go down joined, as one buffer that the socket's cork holds by
    /// reference (or copies once). Otherwise they are offered one by one, as above.
    func offerOnLoop(_ shared: SharedFrames, keys: [String?]) {
        guard let joined = shared.joined, !closed, !blocked, queue.isEmpty, !queue.isBehind else {
            return offerOnLoop(frames: shared.frames, keys: keys)
        }
        // Under `LoopLocalFrames.copyLimit`, so what the above would send in one call.
        assert(joined.count <= Self.passThroughBytes)
        passThrough(joined: joined, count: shared.frames.count)
    }

    /// Hands a frame straight to the socket (nothing is queued ahead of it); above the
    /// socket's high watermark one task waits for it to drain. False if the socket failed:
    /// the outbox is then closed.
    @discardableResult
    private func passThrough(_ frame: [UInt8]) -> Bool {
        do {
            return passedThrough(count: 1, underWatermark: try socket.sendFramedWithoutWaiting(frame))
        } catch {
            return socketFailed()
        }
    }

    /// `passThrough(_:)` for several frames in one call.
    private func passThrough(_ frames: [[UInt8]]) -> Bool {
        do {
            return passedThrough(count: frames.count, underWatermark: try socket.sendFramedWithoutWaiting(frames))
        } catch {
            return socketFailed()
        }
    }

    /// `passThrough(_:)` for `count` frames joined in one buffer.
    @discardableResult
    private func passThrough(joined: [UInt8], count: Int) -> Bool {
        do {
            return passedThrough(count: count, underWatermark: try socket.sendFramedWithoutWaiting(joined: joined, messageCount: count))
        } catch {
            return socketFailed()
        }
    }

    // Two plain calls rather than one taking the send as a closure: the closure's context
    // made the compiler retain and release the outbox and the frame around every member's
    // delivery (a tenth of a broadcast's CPU at 1,000 members).
    private func passedThrough(count: Int, underWatermark: Bool) -> Bool {
        queue.recordPassThrough(count: count)
        if !underWatermark {
            blocked = true
            waitForDrain()
        }
        return true
    }

    private func socketFailed() -> Bool {
        closed = true
        retryWaiting()
        return false
    }

    /// The most bytes handed to the socket in one call while it keeps up.
    static let passThroughBytes = 64 * 1024

    private func enqueueWaiting(frame: [UInt8], key: String?, _ continuation: UnsafeContinuation<Void, Never>) {
        guard !closed else { return continuation.resume() }
        guard waiting.isEmpty else {
            // Keep order behind earlier waiters.
            waiting.append((frame, key, continuation))
            return
        }
        switch queue.offer(.init(payload: frame, byteCount: frame.count, key: key)) {
        case .full:
            waiting.append((frame, key, continuation))
            pump()
        case .close(let code, let reason):
            closeForSlowness(code: code, reason: reason)
            continuation.resume()
        default:
            pump()
            continuation.resume()
        }
        tallyQueue()
    }

    /// Moves queued frames to the socket without waiting, until the queue is empty or the
    /// socket pushes back; then one task waits for the socket to drain and resumes.
    /// Loop thread. No task is created while the socket keeps up.
    private func pump() {
        guard !blocked, !closed else { return }
        while true {
            let batch = queue.take(maxBytes: Self.passThroughBytes)
            if batch.isEmpty {
                guard queue.needsCatchUp else { return }
                guard let frame = makeCatchUp?() else {
                    return closeForSlowness(code: 1011, reason: "cannot catch up")
                }
                queue.catchUp(.init(payload: frame, byteCount: frame.count))
                continue
            }
            do {
                if try !socket.sendFramedWithoutWaiting(batch.map(\.payload)) {
                    blocked = true
                    waitForDrain()
                    return
                }
            } catch {
                closed = true
                retryWaiting()
                return
            }
        }
    }

    private func waitForDrain() {
        Task(executorPreference: eventLoop) {
            do {
                try await self.socket.waitUntilWritable()
            } catch {
                self.closed = true
            }
            self.blocked = false
            self.pump()
            self.retryWaiting()
            self.tallyQueue()
        }
    }

    /// Gives waiting `send` callers another try now that the queue has room.
    private func retryWaiting() {
        while !closed, let first = waiting.first {
            switch queue.offer(.init(payload: first.frame, byteCount: first.frame.count, key: first.key)) {
            case .full:
                return
            case .close(let code, let reason):
                closeForSlowness(code: code, reason: reason)
            default:
                waiting.removeFirst()
                first.continuation.resume()
                pump()
            }
        }
        if closed {
            let abandoned = waiting
            waiting = []
            for waiter in abandoned { waiter.continuation.resume() }
        }
    }

    /// Moves the loop's outbox tallies by what changed since the last report: messages queued
    /// (a closed outbox holds none), dropped or discarded while behind, catch-up snapshots.
    /// Only on the queueing paths: a message that passes straight to the socket changes none.
    private func tallyQueue() {
        let counters = queue.counters
        let queued = closed ? 0 : counters.queuedMessages
        let dropped = counters.dropped + counters.discardedBehind
        LoopTally.add(.outboxQueuedMessages, queued - tallied.queued)
        LoopTally.add(.outboxDroppedMessages, dropped - tallied.dropped)
        LoopTally.add(.outboxCatchUpSnapshots, counters.catchUps - tallied.catchUps)
        tallied = (queued, dropped, counters.catchUps)
    }

    deinit {
        // Usually on the socket's loop, whose tallies are folded; elsewhere the gauge keeps
        // what this outbox held (see docs/ARCHITECTURE.md, "Metrics").
        LoopTally.add(.outboxQueuedMessages, -tallied.queued)
    }

    private func closeForSlowness(code: UInt16, reason: String) {
        closed = true
        let socket = self.socket
        Task(executorPreference: eventLoop) {
            await socket.close(code: WebSocketCloseCode(code), reason: reason)
        }
        retryWaiting()
    }
}
