public import EddyLoop
public import EddyWebSocket

/// Rooms of WebSocket connections, sharded per event loop: membership lives in one actor
/// per loop (`RoomShard`), so no single actor serialises the server.
///
/// Guarantees:
/// - `publish` frames (and, for members that allow it, compresses) a message once and
///   shares the bytes with every member; it never waits for any member. Each member's
///   outbox applies its policy when that member falls behind.
/// - Messages from one publisher reach each member in publish order.
/// - A member leaves every room automatically when its socket closes (when joined
///   through `serve(_:in:policy:limits:_:)`) or through `leaveAll`.
public final class RoomRegistry: Sendable {
    private let shards: [ObjectIdentifier: RoomShard]
    private let orderedShards: [RoomShard]
    private let compressor: BroadcastCompressor?

    /// - Parameters:
    ///   - group: one shard per loop of the group; members join their socket's loop's shard.
    ///   - compression: when set, broadcasts over its threshold are also compressed once
    ///     (no context takeover) for members that negotiated `server_no_context_takeover`.
    public init(group: EventLoopGroup, compression: PerMessageDeflateConfiguration? = nil) {
        var shards: [ObjectIdentifier: RoomShard] = [:]
        var ordered: [RoomShard] = []
        for loop in group.loops {
            let shard = RoomShard(loop: loop)
            shards[ObjectIdentifier(loop)] = shard
            ordered.append(shard)
        }
        self.shards = shards
        self.orderedShards = ordered
        self.compressor = compression.map { BroadcastCompressor(configuration: $0) }
    }

    private func shard(for outbox: Outbox) -> RoomShard {
        guard let shard = shards[ObjectIdentifier(outbox.eventLoop)] else {
            preconditionFailure("socket's event loop is not in this registry's group")
        }
        return shard
    }

    /// Adds `outbox`'s connection to `room`.
    public func join(_ outbox: Outbox, room: String) async {
        await shard(for: outbox).join(outbox, room: room)
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
    public func publish(_ message: PreparedMessage, to room: String, key: String? = nil) {
        for shard in orderedShards { shard.deliver(message, to: room, key: key) }
    }

    /// Prepares a message with this registry's compression settings.
    public func prepare(_ message: WebSocketMessage) -> PreparedMessage {
        PreparedMessage(message, compressor: compressor)
    }

    /// Members of `room` across all loops.
    public func memberCount(of room: String) async -> Int {
        var total = 0
        for shard in orderedShards { total += await shard.count(room: room) }
        return total
    }

    /// `room`'s counters summed over its members.
    public func counters(of room: String) async -> RoomCounters {
        var total = RoomCounters()
        for shard in orderedShards { total.add(await shard.counters(room: room)) }
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
