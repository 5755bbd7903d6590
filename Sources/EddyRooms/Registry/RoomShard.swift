import EddyLoop
import EddyWebSocket

/// One event loop's share of every room: the members whose sockets live on that loop.
///
/// The actor runs on its loop (its executor is the loop), so joining, leaving and
/// delivering to members touch sockets without a hop, and shards on different loops
/// never contend.
actor RoomShard {
    let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    private var members: [String: [ObjectIdentifier: Outbox]] = [:]
    private var roomsOfMember: [ObjectIdentifier: Set<String>] = [:]

    init(loop: EventLoop) { self.loop = loop }

    func join(_ outbox: Outbox, room: String) {
        let id = ObjectIdentifier(outbox)
        members[room, default: [:]][id] = outbox
        roomsOfMember[id, default: []].insert(room)
    }

    func leave(_ outbox: Outbox, room: String) {
        let id = ObjectIdentifier(outbox)
        members[room]?[id] = nil
        if members[room]?.isEmpty == true { members[room] = nil }
        roomsOfMember[id]?.remove(room)
        if roomsOfMember[id]?.isEmpty == true { roomsOfMember[id] = nil }
    }

    func leaveAll(_ outbox: Outbox) {
        let id = ObjectIdentifier(outbox)
        for room in roomsOfMember[id] ?? [] {
            members[room]?[id] = nil
            if members[room]?.isEmpty == true { members[room] = nil }
        }
        roomsOfMember[id] = nil
    }

    func count(room: String) -> Int { members[room]?.count ?? 0 }

    func counters(room: String) -> RoomCounters {
        var total = RoomCounters()
        for outbox in (members[room] ?? [:]).values { total.add(outbox.countersOnLoop) }
        return total
    }

    /// Queues `message` for every member here, without waiting. Callable from anywhere:
    /// the work is submitted to this shard's loop in publish order.
    nonisolated func deliver(_ message: PreparedMessage, to room: String, key: String?) {
        loop.execute {
            self.assumeIsolated { shard in shard.deliverNow(message, to: room, key: key) }
        }
    }

    private func deliverNow(_ message: PreparedMessage, to room: String, key: String?) {
        guard let outboxes = members[room] else { return }
        for outbox in outboxes.values {
            outbox.offer(frame: message.frame(for: outbox.socket), key: key)
        }
    }
}

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
