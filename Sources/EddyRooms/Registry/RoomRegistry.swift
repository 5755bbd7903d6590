public import EddyLoop
public import EddyWebSocket
import EddyShared

/// Rooms of WebSocket connections, sharded per event loop: membership lives in one actor
/// per loop (`RoomShard`), so no single actor serialises the server.
///
/// A room is a plain broadcast group, or an *ordered* stream when its publisher gives each
/// message a position (a DAG run's `seq`, the lobby's serial): a member then joins at the
/// head of that stream, atomically (`join(_:room:floor:startingAt:)`), and gets exactly the
/// positions above its floor, each once, in order.
///
/// Guarantees:
/// - `publish` frames (and, for members that allow it, compresses) a message once and
///   shares the bytes with every member; it never waits for any member. Each member's
///   outbox applies its policy when that member falls behind.
/// - Messages from one publisher reach each member in publish order.
/// - A positioned message reaches a member of an ordered room only if its position is
///   above the member's `MemberFloor`, which it then raises.
/// - A member leaves every room automatically when its socket closes (when joined
///   through `serve(_:in:policy:limits:_:)`) or through `leaveAll`.
public final class RoomRegistry: Sendable {
    private struct Shards {
        var byLoop: [ObjectIdentifier: RoomShard] = [:]
        var all: [RoomShard] = []

        mutating func add(_ loop: EventLoop, delivery: RoomDelivery) -> RoomShard {
            let shard = RoomShard(loop: loop, delivery: delivery)
            byLoop[ObjectIdentifier(loop)] = shard
            all.append(shard)
            return shard
        }
    }

    private let shards: Mutex<Shards>
    private let compressor: BroadcastCompressor?
    /// When published messages reach the members (see `RoomDelivery`).
    public let delivery: RoomDelivery

    /// A registry with one shard per loop of `group` (members join their socket's loop's shard).
    ///
    /// - Parameter compression: when set, broadcasts over its threshold are also compressed
    ///   once (no context takeover) for members that negotiated `server_no_context_takeover`.
    /// - Parameter delivery: at the end of the loop iteration a publish reaches the shard in
    ///   (the default, `.perIteration`), as the loop runs it, or coalesced into one write per
    ///   member per interval.
    public convenience init(group: EventLoopGroup, compression: PerMessageDeflateConfiguration? = nil,
                            delivery: RoomDelivery = .perIteration) {
        self.init(compression: compression, delivery: delivery)
        shards.withLock { shards in
            for loop in group.loops { _ = shards.add(loop, delivery: delivery) }
        }
    }

    /// A registry that adds a shard for each loop its members' sockets live on, as they join
    /// (for code that is built before its event loops, like a gateway installed into a router).
    public init(compression: PerMessageDeflateConfiguration? = nil, delivery: RoomDelivery = .perIteration) {
        self.shards = Mutex(Shards())
        self.compressor = compression.map { BroadcastCompressor(configuration: $0) }
        self.delivery = delivery
    }

    private func shard(for outbox: Outbox) -> RoomShard {
        let loop = outbox.eventLoop
        return shards.withLock { shards in shards.byLoop[ObjectIdentifier(loop)] ?? shards.add(loop, delivery: delivery) }
    }

    var allShards: [RoomShard] { shards.withLock { $0.all } }

    /// Adds `outbox`'s connection to `room`; it gets every message published there from now on.
    public func join(_ outbox: Outbox, room: String) async {
        await shard(for: outbox).join(outbox, room: room, floor: nil)
    }

    /// Adds `outbox`'s connection to the ordered room `room` at the head of its stream.
    ///
    /// `start` runs on the connection's loop, between two deliveries of the room's messages
    /// there: it brings the member up to the head (queues a snapshot, or a replay of what it
    /// missed, on `outbox`) and returns the head's position. `floor` is raised to it, and the
    /// member then gets exactly the messages published with a higher position, in order.
    ///
    /// For the join to leave no gap, whatever publishes into the room must already be
    /// publishing every position that `start` cannot see yet (subscribe the room's feed
    /// first: `RoomFeeds.retain(_:startingWith:)`).
    ///
    /// - Throws: whatever `start` throws; the connection is then not a member.
    public func join(_ outbox: Outbox, room: String, floor: MemberFloor,
                     startingAt start: @escaping @Sendable () throws -> Int64) async throws {
        try await shard(for: outbox).join(outbox, room: room, floor: floor, start: start)
    }

    /// Removes `outbox`'s connection from `room`.
    public func leave(_ outbox: Outbox, room: String) async {
        await shard(for: outbox).leave(outbox, room: room)
    }

    /// Removes `outbox`'s connection from every room.
    public func leaveAll(_ outbox: Outbox) async {
        await shard(for: outbox).leaveAll(outbox)
    }

    /// Publishes `message` to every member of `room`; returns at once.
    ///
    /// - Parameter key: the conflation key (for members whose policy is `.conflate`):
    ///   a queued message with the same key is replaced by this one.
    public func publish(_ message: WebSocketMessage, to room: String, key: String? = nil) {
        publish(PreparedMessage(message, compressor: compressor), to: room, key: key)
    }

    /// Publishes an already prepared message (to share one framing across rooms).
    ///
    /// - Parameter position: the message's place in an ordered room's stream: members whose
    ///   floor is at or above it skip it (see `MemberFloor`). Without one, every member gets
    ///   the message (a heartbeat).
    public func publish(_ message: PreparedMessage, to room: String, key: String? = nil, position: Int64? = nil) {
        for shard in allShards { shard.deliver(message, to: room, key: key, position: position) }
    }

    /// Hands every message still waiting for its burst (coalesced delivery) to the members'
    /// outboxes now, on every loop; returns once they are queued. Call before closing the
    /// members (a graceful shutdown), so the last messages precede the close frames.
    public func flushPending() async {
        for shard in allShards { await shard.flushPending() }
    }

    /// Prepares a message with this registry's compression settings.
    public func prepare(_ message: WebSocketMessage) -> PreparedMessage {
        PreparedMessage(message, compressor: compressor)
    }

    /// Members of `room` across all loops.
    public func memberCount(of room: String) async -> Int {
        var total = 0
        for shard in allShards { total += await shard.count(room: room) }
        return total
    }

    /// `room`'s counters summed over its members.
    public func counters(of room: String) async -> RoomCounters {
        var total = RoomCounters()
        for shard in allShards { total.add(await shard.counters(room: room)) }
        return total
    }

    /// Runs `body` for `socket` as a member of `room` with its own outbox, and leaves the
    /// room when `body` returns or throws (the usual shape of a room handler).
    public func serve<Result>(
        _ socket: WebSocket,
        in room: String,
        policy: OutboxPolicy,
        limits: OutboxLimits = OutboxLimits(),
        _ body: (Outbox) async throws -> Result
    ) async throws -> Result {
        let outbox = Outbox(socket: socket, policy: policy, limits: limits)
        await join(outbox, room: room)
        return try await member(outbox, body)
    }

    /// Runs `body` with `outbox` joined to the ordered room `room` at its head (see
    /// `join(_:room:floor:startingAt:)`), and leaves every room when `body` returns or throws.
    public func serve<Result>(
        _ outbox: Outbox,
        in room: String,
        floor: MemberFloor,
        startingAt start: @escaping @Sendable () throws -> Int64,
        _ body: () async throws -> Result
    ) async throws -> Result {
        try await join(outbox, room: room, floor: floor, startingAt: start)
        return try await member(outbox) { _ in try await body() }
    }

    private func member<Result>(_ outbox: Outbox, _ body: (Outbox) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(outbox)
            await leaveAll(outbox)
            return result
        } catch {
            await leaveAll(outbox)
            throw error
        }
    }
}
