/// What an `Outbox` does when a message does not fit under its limits.
///
/// Pick per room or per connection: `.suspend` for one-to-one streams where every
/// message matters, `.conflate` for state streams (a dashboard that falls behind gets the
/// latest state per key, never a stale one), the drop policies for feeds where gaps are
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
