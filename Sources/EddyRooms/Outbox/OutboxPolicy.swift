/// What an `Outbox` does when a message does not fit under its limits.
///
/// Pick per room or per connection: `.suspend` for one-to-one streams where every
/// message matters, `.conflate` for state streams (a dashboard that falls behind gets the
/// latest state per key, never a stale one), `.catchUp` for streams whose whole state
/// can be re-sent as one message (a snapshot), the drop policies for feeds where gaps are
/// acceptable, `.close` when a slow client should reconnect and resync.
public enum OutboxPolicy: Sendable, Hashable {
    /// The sender waits for space. Only for one-to-one streams: a room never waits.
    case suspend
    /// Make room by discarding the oldest queued messages.
    case dropOldest
    /// Discard the new message.
    case dropNewest
    /// Keep only the latest queued message per key. A message with a key replaces the
    /// queued one with the same key (the new one goes to the back, so the delivered
    /// stream stays a subsequence of the published one, in order). When messages without
    /// a key still overflow the limits, the connection is closed with 1008.
    case conflate
    /// On overflow, discard every queued message without a key and fall *behind*: new
    /// messages without a key are discarded too, until the connection has drained; the
    /// outbox then asks its owner for one catch-up message (for example a snapshot of
    /// the latest state) that stands for everything discarded, and the stream goes on
    /// from there. Keyed messages are kept (conflated per key, as with `.conflate`), so
    /// replies that must arrive still do. The connection is closed with 1008 only if the
    /// keyed messages alone overflow the limits.
    case catchUp
    /// Close the slow connection with `code` (1008 policy violation or 1013 try again
    /// later) and `reason`.
    case close(code: UInt16, reason: String)

    /// `.close` with 1008 and "too slow", the default close policy.
    public static let closeSlowConsumer = OutboxPolicy.close(code: 1008, reason: "too slow")
}

/// An `Outbox`'s bounds. Both apply; a message larger than `maxBytes` is still accepted
/// into an empty outbox so that one big message cannot wedge a connection forever.
public struct OutboxLimits: Sendable, Hashable {
    /// Queued wire bytes. Default 1 MiB: the most memory one slow client can pin.
    public var maxBytes: Int
    /// Queued messages. Default 4,096.
    public var maxMessages: Int

    public init(maxBytes: Int = 1 << 20, maxMessages: Int = 4096) {
        self.maxBytes = max(1, maxBytes)
        self.maxMessages = max(1, maxMessages)
    }
}

/// What an outbox has done, for metrics and tests.
public struct OutboxCounters: Sendable, Hashable {
    /// Messages accepted into the queue.
    public var enqueued = 0
    /// Messages handed to the connection.
    public var delivered = 0
    /// Messages discarded by `.dropOldest` or `.dropNewest`.
    public var dropped = 0
    /// Queued messages replaced by a newer one with the same key.
    public var conflated = 0
    /// Messages discarded while behind under `.catchUp`.
    public var discardedBehind = 0
    /// Catch-up messages sent under `.catchUp` (one per time the connection fell behind).
    public var catchUps = 0
    /// 1 once the outbox closed its connection for being too slow.
    public var closedForSlowness = 0
    /// Times a sender waited for space (`.suspend`).
    public var senderSuspensions = 0
    /// Bytes queued now.
    public var queuedBytes = 0
    /// Messages queued now.
    public var queuedMessages = 0
    /// The most bytes ever queued.
    public var queuedBytesHighWaterMark = 0

    public init() {}
}
