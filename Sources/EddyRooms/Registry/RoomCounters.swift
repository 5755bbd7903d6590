/// A room's totals over its members' outboxes.
public struct RoomCounters: Sendable, Hashable {
    public var members = 0
    public var enqueued = 0
    public var delivered = 0
    public var dropped = 0
    public var conflated = 0
    public var closedForSlowness = 0
    public var queuedBytes = 0
    /// The largest single-member high-water mark.
    public var queuedBytesHighWaterMark = 0

    public init() {}

    /// Adds one member's outbox.
    mutating func add(_ counters: OutboxCounters) {
        var member = RoomCounters()
        member.members = 1
        member.enqueued = counters.enqueued
        member.delivered = counters.delivered
        member.dropped = counters.dropped
        member.conflated = counters.conflated
        member.closedForSlowness = counters.closedForSlowness
        member.queuedBytes = counters.queuedBytes
        member.queuedBytesHighWaterMark = counters.queuedBytesHighWaterMark
        add(member)
    }

    mutating func add(_ other: RoomCounters) {
        members += other.members
        enqueued += other.enqueued
        delivered += other.delivered
        dropped += other.dropped
        conflated += other.conflated
        closedForSlowness += other.closedForSlowness
        queuedBytes += other.queuedBytes
        queuedBytesHighWaterMark = max(queuedBytesHighWaterMark, other.queuedBytesHighWaterMark)
    }
}
