import EddyLoop
import EddyNet
import EddyWebSocket

/// One event loop's share of every room: the members whose sockets live on that loop.
///
/// The actor runs on its loop (its executor is the loop), so joining, leaving and
/// delivering to members touch sockets without a hop, and shards on different loops
/// never contend. Deliveries are submitted to the loop in publish order, so a join that
/// runs on the loop sits at one exact point of every room's stream.
///
/// With `RoomDelivery.perIteration`, every message waits in `pending` (every room's, in
/// publish order) until the end of the loop iteration it arrived in (the loop's
/// end-of-iteration flush, before the sockets' corks are written), which hands them all to
/// the members at once. With `RoomDelivery.coalesced`, a burst is the same end-of-iteration
/// flush, but at most one per spacing (the interval, or twice the time the last burst took to
/// write if longer; see `DeliveryPacer`): messages that follow a burst within it
/// wait for one timer, and the burst comes at that iteration's next drain of the loop's
/// queued work. Either burst comes earlier when a socket on the loop reads or writes
/// something of its own first (`EventLoop.handOverHeldOutput`).
actor RoomShard: EndOfIterationFlushable {
    let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    private var rooms: [String: RoomMembers] = [:]
    private var roomsOfMember: [ObjectIdentifier: Set<String>] = [:]

    /// Coalesced delivery's timing; nil for immediate delivery.
    private var pacer: DeliveryPacer?
    /// Publishes waiting for the next burst (coalesced and per-iteration delivery), in publish order.
    private var pending: [PendingDelivery] = []
    private var bursting: [PendingDelivery] = []
    /// Coalesced delivery: ends the interval a held burst waits for; created on first use,
    /// armed only while `pending` is not empty.
    private var burstTimer: ScheduledWork?
    /// Coalesced delivery: tells the pacer when a burst's writes are done; created on first use.
    private var burstWriteClock: BurstWriteClock?
    /// Per-iteration delivery: publishes wait for the end of the loop iteration.
    private let holdsUntilIterationEnd: Bool
    /// The shard is registered for this iteration's end-of-iteration flush (per-iteration: set
    /// by the first held publish; coalesced: by a publish after a quiet interval, or the
    /// timer), cleared by the flush; a join, a leave or `flushPending` may have emptied
    /// `pending` meanwhile.
    private var flushRequested = false

    init(loop: EventLoop, delivery: RoomDelivery = .immediate) {
        self.loop = loop
        if case .coalesced(let interval) = delivery { pacer = DeliveryPacer(interval: interval) }
        holdsUntilIterationEnd = delivery == .perIteration
    }

    deinit { burstTimer?.cancel() }

    func join(_ outbox: Outbox, room: String, floor: MemberFloor?) {
        deliverHeldBeforeMembershipChange()
        rooms[room, default: RoomMembers()].insert(RoomMember(outbox: outbox, floor: floor))
        roomsOfMember[ObjectIdentifier(outbox), default: []].insert(room)
    }

    /// Joins at the head of an ordered room: `start` brings the member up to the head and
    /// returns the head's position. Runs between two deliveries, so the member gets exactly
    /// the messages published above that position from here on.
    func join(_ outbox: Outbox, room: String, floor: MemberFloor, start: @Sendable () throws -> Int64) throws {
        floor.raise(to: try start())
        join(outbox, room: room, floor: floor)
    }

    func leave(_ outbox: Outbox, room: String) {
        deliverHeldBeforeMembershipChange()
        let id = ObjectIdentifier(outbox)
        remove(id, from: room)
        roomsOfMember[id]?.remove(room)
        if roomsOfMember[id]?.isEmpty == true { roomsOfMember[id] = nil }
    }

    func leaveAll(_ outbox: Outbox) {
        deliverHeldBeforeMembershipChange()
        let id = ObjectIdentifier(outbox)
        for room in roomsOfMember[id] ?? [] { remove(id, from: room) }
        roomsOfMember[id] = nil
    }

    private func remove(_ id: ObjectIdentifier, from room: String) {
        guard rooms[room]?.remove(id) == true, rooms[room]?.isEmpty == true else { return }
        rooms[room] = nil
    }

    func count(room: String) -> Int { rooms[room]?.members.count ?? 0 }

    func counters(room: String) -> RoomCounters {
        var total = RoomCounters()
        for member in rooms[room]?.members ?? [] { total.add(member.outbox.countersOnLoop) }
        return total
    }

    /// Queues `message` for every member here, without waiting. Callable from anywhere:
    /// the work is submitted to this shard's loop in publish order.
    nonisolated func deliver(_ message: PreparedMessage, to room: String, key: String?, position: Int64?) {
        loop.execute {
            self.assumeIsolated { shard in shard.accept(PendingDelivery(message: message, room: room, key: key, position: position)) }
        }
    }

    /// Hands everything waiting for the next burst to the members now (before closing them).
    func flushPending() {
        guard !pending.isEmpty else { return }
        burstTimer?.stop()
        burst()
    }

    /// Per-iteration delivery: what is held goes to the members as they are before a join or
    /// leave changes them (as if each publish had been delivered when it arrived).
    private func deliverHeldBeforeMembershipChange() {
        if holdsUntilIterationEnd && !pending.isEmpty { burst() }
    }

    /// Per-iteration delivery: the loop's end-of-iteration flush, before the corks' (the
    /// members' sockets register theirs during the burst; the loop flushes those next), or
    /// earlier, when a socket on the loop is about to write something of its own (so a
    /// direct send never overtakes a held publish; see `EventLoop.handOverHeldOutput`).
    nonisolated func flushAtEndOfIteration() {
        assumeIsolated { shard in
            shard.flushRequested = false
            if !shard.pending.isEmpty { shard.burst() }
        }
    }

    private func accept(_ delivery: PendingDelivery) {
        if holdsUntilIterationEnd {
            pending.append(delivery)
            holdUntilIterationEnd()
            return
        }
        guard var pacer else { return deliverNow(delivery) }
        pending.append(delivery)
        // Already due at this iteration's end: it goes with what is there.
        guard !flushRequested else { return }
        let decision = pacer.publish(at: .now)
        self.pacer = pacer
        switch decision {
        case .deliverNow:
            // Not alone: whatever else reaches this loop in the same iteration (under load,
            // everything published while the loop was writing the last burst) goes with it.
            holdUntilIterationEnd()
        case .holdAndArm(let delay):
            armBurst(after: delay)
        case .hold:
            break
        }
    }

    /// Registers the shard for this iteration's end-of-iteration flush (once per iteration).
    private func holdUntilIterationEnd() {
        guard !flushRequested else { return }
        flushRequested = true
        loop.holdOutputUntilIterationEnd(self)
    }

    private func armBurst(after delay: Duration) {
        // The timer only ends the interval; the burst waits for the loop's next drain of its
        // queued work (in libuv's idle phase, after the timers: so with what the loop has
        // queued itself, not yet with what other threads queued for its poll phase).
        let timer = burstTimer ?? ScheduledWork(on: loop) { [weak self] in
            guard let shard = self else { return }
            shard.assumeIsolated { $0.burstTimerFired() }
        }
        burstTimer = timer
        timer.start(after: delay)
    }

    /// The spacing's end: the burst comes with this iteration, unless the spacing grew since
    /// the timer was armed (then the timer is armed again for the rest of it).
    private func burstTimerFired() {
        if var pacer, let left = pacer.timerFired(at: .now) {
            self.pacer = pacer
            burstTimer?.start(after: left)
            return
        }
        holdUntilIterationEnd()
    }

    /// Delivers every pending publish, in order. Consecutive publishes to one room (a run's
    /// events) go to each member in one offer, so a member's share is one call down to its
    /// socket's cork, which sends it in one write at the end of this loop iteration.
    private func burst() {
        pacer?.burst(at: .now)
        // Two arrays swapped back and forth keep their capacity: no allocation per burst.
        swap(&pending, &bursting)
        var start = bursting.startIndex
        while start < bursting.endIndex {
            let room = bursting[start].room
            var end = start + 1
            while end < bursting.endIndex && bursting[end].room == room { end += 1 }
            deliverTogether(bursting[start..<end], to: room)
            start = end
        }
        bursting.removeAll(keepingCapacity: true)
        if pacer != nil {
            // The members corked their writes above: the clock runs once the loop has written
            // every cork of this iteration.
            let clock = burstWriteClock ?? BurstWriteClock(shard: self)
            burstWriteClock = clock
            loop.afterOutputIsWritten(clock)
        }
    }

    /// Coalesced delivery: how long the last burst took to write (zero before the first).
    var lastBurstTook: Duration? { pacer?.lastBurstTook }

    fileprivate func burstWritten() {
        pacer?.burstWritten(at: .now)
    }

    private func deliverTogether(_ deliveries: ArraySlice<PendingDelivery>, to room: String) {
        guard deliveries.count > 1 else {
            for delivery in deliveries { deliverNow(delivery) }
            return
        }
        let keys = deliveries.map(\.key)
        // The lists of frames for members that get every delivery are made once per
        // compression window (usually one) and shared by all such members, so such a member
        // costs one outbox call and no array of its own.
        var frames = LoopLocalFrames(deliveries.map(\.message))
        // Positions that rise strictly (one run's events, the usual case of an ordered room):
        // a member's floor then admits a suffix of them, found with one atomic operation.
        let rising = Self.risingPositions(deliveries)
        var ownFrames: [[UInt8]] = []
        var ownKeys: [String?] = []
        rooms[room]?.forEachMember { outbox, floor, windowBits in
            guard let floor else { return outbox.offerOnLoop(frames.shared(forWindowBits: windowBits), keys: keys) }
            ownFrames.removeAll(keepingCapacity: true)
            ownKeys.removeAll(keepingCapacity: true)
            var had = Int64.min
            if let rising {
                // As if each delivery had been offered in turn: those above the floor pass,
                // and the floor ends at the last one.
                had = floor.advanceReturningPrevious(to: rising.last)
                if had < rising.first { return outbox.offerOnLoop(frames.shared(forWindowBits: windowBits), keys: keys) }
            }
            let all = frames.forSharedWindowBits(windowBits)
            for (offset, delivery) in deliveries.enumerated() {
                let passes = if rising != nil {
                    (delivery.position ?? .min) > had
                } else if let position = delivery.position {
                    floor.advance(to: position)
                } else {
                    true
                }
                guard passes else { continue }
                ownFrames.append(all[offset])
                ownKeys.append(delivery.key)
            }
            outbox.offerOnLoop(frames: ownFrames, keys: ownKeys)
        }
    }

    /// The first and last positions of `deliveries` if every one has a position and each is
    /// above the one before; nil otherwise.
    static func risingPositions(_ deliveries: ArraySlice<PendingDelivery>) -> (first: Int64, last: Int64)? {
        guard let first = deliveries.first?.position else { return nil }
        var last = first
        for delivery in deliveries.dropFirst() {
            guard let position = delivery.position, position > last else { return nil }
            last = position
        }
        return (first, last)
    }

    private func deliverNow(_ delivery: PendingDelivery) {
        deliverNow(delivery.message, to: delivery.room, key: delivery.key, position: delivery.position)
    }

    private func deliverNow(_ message: PreparedMessage, to room: String, key: String?, position: Int64?) {
        guard let members = rooms[room] else { return }
        var frames = LoopLocalFrames([message])
        members.forEachMember { outbox, floor, windowBits in
            if let position, let floor, !floor.advance(to: position) { return }
            outbox.offerOnLoop(frame: frames.forSharedWindowBits(windowBits)[0], key: key)
        }
    }
}

/// The frames of the messages a shard hands to its members in one go, as copies that only
/// this loop's sockets reference: one list per compression window, made on first use.
///
/// A member's socket keeps the frame it is given by reference until the end of the loop
/// iteration (its cork), a retain and a release per member. On a frame shared with the
/// shards of other loops those are atomic operations on one cache line that the loops'
/// cores take from each other: with two loops they were a quarter of a broadcast's user
/// time. A copy per loop and message costs far less than that. Frames of `copyLimit` bytes or
/// more are not copied: a socket writes those at once instead of corking them, and the copy
/// would cost more than the reference count it saves.
struct LoopLocalFrames {
    /// The size from which a socket writes a frame at once.
    static let copyLimit = TCPConnection.corkLimit

    private let messages: [PreparedMessage]
    private var made: [(windowBits: Int?, frames: SharedFrames)] = []

    init(_ messages: [PreparedMessage]) { self.messages = messages }

    /// The messages' frames for members whose `sharedCompressionWindowBits` is `bits`.
    mutating func forSharedWindowBits(_ bits: Int?) -> [[UInt8]] {
        shared(forWindowBits: bits).frames
    }

    /// The same frames, and joined when they are several and small (see `SharedFrames`).
    mutating func shared(forWindowBits bits: Int?) -> SharedFrames {
        if let index = made.firstIndex(where: { $0.windowBits == bits }) { return made[index].frames }
        var total = 0
        let frames = messages.map { message in
            let frame = message.frame(forSharedWindowBits: bits)
            total += frame.count
            return frame.count < Self.copyLimit ? frame.withUnsafeBufferPointer { Array($0) } : frame
        }
        var joined: [UInt8]?
        if frames.count > 1 && total < Self.copyLimit {
            var bytes = [UInt8]()
            bytes.reserveCapacity(total)
            for frame in frames { bytes.append(contentsOf: frame) }
            joined = bytes
        }
        let shared = SharedFrames(frames: frames, joined: joined)
        made.append((bits, shared))
        return shared
    }
}

/// A burst's frames for the members that share one compression window.
///
/// Guarantees: `joined`, when present, is `frames` laid end to end, and is present exactly
/// when there are several frames and they total less than `LoopLocalFrames.copyLimit`.
/// A member that takes the whole burst is then handed that one buffer: its socket holds it
/// by reference (or copies it once), rather than taking and copying each frame, which cost
/// two atomic reference-count writes and a copy per frame and member.
struct SharedFrames {
    let frames: [[UInt8]]
    let joined: [UInt8]?
}

/// Registered after a coalesced burst (`EventLoop.afterOutputIsWritten`), so it runs once the
/// members' writes are done: the pacer spaces bursts by how long they take to write. Loop
/// thread only.
private final class BurstWriteClock: EndOfIterationFlushable {
    weak var shard: RoomShard?

    init(shard: RoomShard) { self.shard = shard }

    func flushAtEndOfIteration() {
        shard?.assumeIsolated { $0.burstWritten() }
    }
}

/// A publish as a shard received it, kept until its burst (coalesced and per-iteration delivery).
struct PendingDelivery {
    let message: PreparedMessage
    let room: String
    let key: String?
    let position: Int64?
}

/// One member of a room on one shard.
struct RoomMember {
    let outbox: Outbox
    /// Set for a member of an ordered room: it gets positioned messages above it only.
    let floor: MemberFloor?
    /// Whether (and with which window) it takes shared compressed frames; fixed at the handshake.
    let sharedWindowBits: Int?

    init(outbox: Outbox, floor: MemberFloor?) {
        self.outbox = outbox
        self.floor = floor
        self.sharedWindowBits = outbox.socket.sharedCompressionWindowBits
    }
}

/// A room's members on one shard: an array (a delivery walks it once per message) with an
/// index for O(1) leave.
struct RoomMembers {
    private(set) var members: [RoomMember] = []
    private var indexOf: [ObjectIdentifier: Int] = [:]

    var isEmpty: Bool { members.isEmpty }

    /// Calls `body` with each member's outbox, floor and shared window, without retaining and
    /// releasing each outbox around the call (at a thousand members, those two atomic
    /// operations per member were a tenth of a broadcast's CPU). The array holds the outboxes
    /// while this runs, and `body` cannot change it: an outbox never calls back into its shard.
    func forEachMember(_ body: (Outbox, MemberFloor?, Int?) -> Void) {
        members.withUnsafeBufferPointer { members in
            for index in members.indices {
                let floor = members[index].floor
                let windowBits = members[index].sharedWindowBits
                Unmanaged.passUnretained(members[index].outbox)._withUnsafeGuaranteedRef { body($0, floor, windowBits) }
            }
        }
    }

    /// Adds `member`, or replaces the entry of the same outbox (a second join sets its floor).
    mutating func insert(_ member: RoomMember) {
        let id = ObjectIdentifier(member.outbox)
        if let index = indexOf[id] {
            members[index] = member
        } else {
            indexOf[id] = members.count
            members.append(member)
        }
    }

    /// Removes the member with outbox `id`; false if it was not here.
    mutating func remove(_ id: ObjectIdentifier) -> Bool {
        guard let index = indexOf.removeValue(forKey: id) else { return false }
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            indexOf[ObjectIdentifier(last.outbox)] = index
        }
        return true
    }
}
