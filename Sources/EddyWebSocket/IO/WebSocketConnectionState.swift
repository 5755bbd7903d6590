/// What a `WebSocket` is doing on its loop, besides what the protocol core knows: where its
/// transport is in its lifecycle, whether it reads, and what it waits for. Plain values,
/// no references: a transition is a byte store, and it tells the caller which call the
/// transport needs (`pauseReceiving`/`resumeReceiving`) instead of making it, so no
/// access to the state spans a call out.
///
/// **Transport lifecycle** (`transport`):
///
/// ```
/// open ──beginClosingTransport──▶ closing ──transportDidClose──▶ closed
/// ```
///
/// **Flow** (`flow`; "paused" means the transport was told `pauseReceiving`):
///
/// | state | reads | who is waiting |
/// |---|---|---|
/// | `reading` | yes | nobody |
/// | `consumerBehind` | paused | the socket, for its consumer to take messages |
/// | `sendWaitsForDrain(consumerBehind: false)` | yes | a task's `send`, for the outbound queue to drain |
/// | `sendWaitsForDrain(consumerBehind: true)` | paused | both of the above |
/// | `backedUp(readingPaused: true)` | paused | a responder's socket, for the outbound queue to drain |
/// | `backedUp(readingPaused: false)` | yes | as above, but the closing handshake resumed reading |
///
/// | transition | from → to | transport call |
/// |---|---|---|
/// | `pauseForConsumer` (too much waits for the consumer) | not paused → its paused twin | pause |
/// | `consumerCaughtUp` (the consumer took enough) | `consumerBehind` → `reading`, `sendWaitsForDrain(true)` → `(false)` | resume |
/// | `sendWaitsForDrain` (a task's send backed up) | `reading` / `consumerBehind` → `sendWaitsForDrain(false / true)` | none |
/// | `sendDrained` | `sendWaitsForDrain(c)` → `c ? consumerBehind : reading`; others stay | none |
/// | `backUp` (a responder's send backed up; nil once `backedUp` or closing) | any other → `backedUp(readingPaused: true)` | pause, unless already paused |
/// | `writableAgain` | `backedUp(_)` → `reading` (→ `consumerBehind` if it stays paused because the transport is closing) | resume if it was paused and the transport is open |
/// | `closingHandshakeStarted` (read on until the peer's Close) | paused → its reading twin | resume |
///
/// Every return to draining (`sendDrained`, `writableAgain`) restarts `stalledTicks`, the
/// keep-alive ticks counted while the outbound queue does not drain (`countStalledTick`).
///
/// A task's socket enters `sendWaitsForDrain` and never `backedUp`; a responder's socket
/// the reverse (see `WebSocketDriver`). The flow outlives `open` on purpose: a consumer
/// still takes the messages buffered before the transport closed, with the same
/// transitions as before it closed.
struct WebSocketConnectionState: Equatable {
    enum Transport: UInt8 {
        case open
        /// `beginClosingTransport` ran: the transport is flushing or closing.
        case closing
        /// The transport has closed (`transportDidClose`).
        case closed
    }

    enum Flow: Equatable {
        case reading
        /// Reading paused: more than `WebSocket.bufferedMessageBytes` wait for the consumer.
        case consumerBehind
        /// A task's `send` waits for the outbound queue to drain; reading is paused only if
        /// the consumer is behind as well.
        case sendWaitsForDrain(consumerBehind: Bool)
        /// A responder's send left the outbound queue above its high watermark: reading
        /// waits for it to drain (unless the closing handshake resumed it).
        case backedUp(readingPaused: Bool)

        /// Whether a task waits for the outbound queue to drain.
        var waitsForDrain: Bool {
            if case .sendWaitsForDrain = self { return true }
            return false
        }

        /// The same wait, with reading paused or not (`reading` and `consumerBehind` are
        /// the twins of "no wait").
        func with(readingPaused paused: Bool) -> Flow {
            switch self {
            case .reading, .consumerBehind: paused ? .consumerBehind : .reading
            case .sendWaitsForDrain: .sendWaitsForDrain(consumerBehind: paused)
            case .backedUp: .backedUp(readingPaused: paused)
            }
        }
    }

    /// What a transition needs the transport to do.
    enum ReadingChange: Equatable {
        case none
        case pause
        case resume
    }

    private(set) var transport: Transport = .open
    private(set) var flow: Flow = .reading
    /// Keep-alive ticks spent waiting for the outbound queue to drain.
    private(set) var stalledTicks: UInt16 = 0

    // MARK: Queries

    /// Whether the transport has been told to pause receiving.
    var readingPaused: Bool {
        switch flow {
        case .reading: false
        case .consumerBehind: true
        case .sendWaitsForDrain(let consumerBehind): consumerBehind
        case .backedUp(let readingPaused): readingPaused
        }
    }

    /// Whether a send waits for the outbound queue to drain (keep-alive counts stalled
    /// ticks instead of pinging).
    var outboundBlocked: Bool {
        switch flow {
        case .reading, .consumerBehind: false
        case .sendWaitsForDrain, .backedUp: true
        }
    }

    /// `beginClosingTransport` has run (the transport is closing or closed).
    var transportClosing: Bool { transport != .open }

    // MARK: Transport lifecycle

    /// `open` → `closing`. False if it had already left `open` (closing is idempotent).
    mutating func beginClosingTransport() -> Bool {
        guard transport == .open else { return false }
        transport = .closing
        return true
    }

    /// The transport has closed.
    mutating func transportDidClose() {
        transport = .closed
    }

    // MARK: Flow

    /// Too much waits for the consumer: pause reading, unless it is paused already.
    mutating func pauseForConsumer() -> ReadingChange {
        guard !readingPaused else { return .none }
        flow = flow.with(readingPaused: true)
        return .pause
    }

    /// The consumer has taken enough: resume reading if only the consumer paused it (a
    /// responder's backed-up socket waits for `writableAgain`).
    mutating func consumerCaughtUp() -> ReadingChange {
        guard readingPaused else { return .none }
        if case .backedUp = flow { return .none }
        flow = flow.with(readingPaused: false)
        return .resume
    }

    /// A task's `send` left the outbound queue above its high watermark and waits for it.
    mutating func sendWaitsForDrain() {
        switch flow {
        case .reading: flow = .sendWaitsForDrain(consumerBehind: false)
        case .consumerBehind: flow = .sendWaitsForDrain(consumerBehind: true)
        case .sendWaitsForDrain, .backedUp: break
        }
    }

    /// A wait for the outbound queue (a task's `send`, or any `waitForDrain`) saw it drain.
    mutating func sendDrained() {
        if case .sendWaitsForDrain(let consumerBehind) = flow {
            flow = consumerBehind ? .consumerBehind : .reading
        }
        stalledTicks = 0
    }

    /// A responder's send left the outbound queue above its high watermark: stop reading
    /// until it drains. Nil when there is nothing new to wait for (already backed up, or
    /// the transport is closing); otherwise whether reading must be paused, and the caller
    /// starts the wait that ends in `writableAgain`.
    mutating func backUp() -> ReadingChange? {
        guard transport == .open else { return nil }
        let change: ReadingChange
        switch flow {
        case .backedUp: return nil
        case .reading, .sendWaitsForDrain(consumerBehind: false): change = .pause
        case .consumerBehind, .sendWaitsForDrain(consumerBehind: true): change = .none
        }
        flow = .backedUp(readingPaused: true)
        return change
    }

    /// The outbound queue of a backed-up responder's socket has drained: read again
    /// (unless the transport is closing; then the pause stays, as the consumer's).
    mutating func writableAgain() -> ReadingChange {
        stalledTicks = 0
        let wasPaused = readingPaused
        if case .backedUp = flow { flow = wasPaused ? .consumerBehind : .reading }
        guard wasPaused, transport == .open else { return .none }
        flow = flow.with(readingPaused: false)
        return .resume
    }

    /// The closing handshake started: read on until the peer's Close arrives, even if the
    /// consumer is behind or a responder waits for the drain.
    mutating func closingHandshakeStarted() -> ReadingChange {
        guard readingPaused else { return .none }
        flow = flow.with(readingPaused: false)
        return .resume
    }

    /// One more keep-alive tick with the outbound queue not drained. Returns the count.
    mutating func countStalledTick() -> UInt16 {
        stalledTicks &+= 1
        return stalledTicks
    }
}

/// Who drives a `WebSocket`. Stored apart from `WebSocketConnectionState`: a task's mode is
/// read by the consumer's task off the loop (`nextMessage`), and is written only once,
/// before the handler starts; a responder's changes on the loop only.
enum WebSocketDriver: Equatable {
    /// A task iterates `messages`. `listenerClosesTransportOnCancellation`: the task runs
    /// in a listener's group that closes the connection when `serve` is cancelled, so its
    /// waits need no cancellation handler (set once, before the handler starts).
    case task(listenerClosesTransportOnCancellation: Bool)
    /// Callbacks on the loop. `inCallback`: one runs now (a re-entrant delivery is left to
    /// the delivery loop below it).
    case responder(inCallback: Bool)

    init(responder: Bool) {
        self = responder ? .responder(inCallback: false) : .task(listenerClosesTransportOnCancellation: false)
    }

    var listenerClosesTransportOnCancellation: Bool {
        if case .task(listenerClosesTransportOnCancellation: true) = self { return true }
        return false
    }

    /// A task socket handed over to a listener's group (`WebSocketRoute.upgrade`).
    mutating func handedOverToListener() {
        if case .task = self { self = .task(listenerClosesTransportOnCancellation: true) }
    }

    /// A responder call starts. False if one is running already (the caller then leaves
    /// the work to it) or this is a task's socket.
    mutating func enterCallback() -> Bool {
        guard case .responder(inCallback: false) = self else { return false }
        self = .responder(inCallback: true)
        return true
    }

    /// The responder call that `enterCallback` admitted has returned.
    mutating func leaveCallback() {
        if case .responder = self { self = .responder(inCallback: false) }
    }
}
