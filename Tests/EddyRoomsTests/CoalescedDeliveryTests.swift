import EddyHTTP
import EddyLoop
import EddyNet
@testable import EddyRooms
import EddyShared
import EddyWebSocket
import Testing

/// `RoomDelivery.coalesced`: the pacing rule on its own, and what a member sees when
/// publishes wait for their burst.
@Suite("Rooms: coalesced delivery", .timeLimit(.minutes(2)))
struct CoalescedDeliveryTests {
    // MARK: The rule, without sockets

    @Test func aPublishAfterAQuietIntervalGoesAtOnce() {
        let start = ContinuousClock.now
        var pacer = DeliveryPacer(interval: .milliseconds(10))
        #expect(pacer.publish(at: start) == .deliverNow)
        #expect(pacer.publish(at: start + .milliseconds(10)) == .deliverNow)
        #expect(pacer.publish(at: start + .milliseconds(25)) == .deliverNow)
        #expect(!pacer.isArmed)
    }

    @Test func publishesWithinTheIntervalWaitForOneBurstAtItsEnd() {
        let start = ContinuousClock.now
        var pacer = DeliveryPacer(interval: .milliseconds(10))
        #expect(pacer.publish(at: start) == .deliverNow)
        #expect(pacer.publish(at: start + .milliseconds(3)) == .holdAndArm(after: .milliseconds(7)))
        #expect(pacer.publish(at: start + .milliseconds(4)) == .hold)
        // Even past the interval, nothing overtakes what is held: it waits for the burst.
        #expect(pacer.publish(at: start + .milliseconds(30)) == .hold)
        pacer.burst(at: start + .milliseconds(31))
        #expect(!pacer.isArmed)
        // The burst opened a new interval.
        #expect(pacer.publish(at: start + .milliseconds(35)) == .holdAndArm(after: .milliseconds(6)))
        pacer.burst(at: start + .milliseconds(41))
        #expect(pacer.publish(at: start + .milliseconds(51)) == .deliverNow)
    }

    /// A pacer whose first publish went at once, at `start`, in a burst that took `took` to write.
    static func pacer(interval: Duration, firstBurstAt start: ContinuousClock.Instant, took: Duration) -> DeliveryPacer {
        var pacer = DeliveryPacer(interval: interval)
        #expect(pacer.publish(at: start) == .deliverNow)
        pacer.burst(at: start)
        pacer.burstWritten(at: start + took)
        return pacer
    }

    @Test func aBurstThatTookLongSpacesTheNextOneByTwiceItsTime() {
        let start = ContinuousClock.now
        // Writing it to the members took 30 ms: the next burst begins 60 ms after it began.
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .milliseconds(30))
        #expect(pacer.spacing == .milliseconds(60))
        #expect(pacer.publish(at: start + .milliseconds(35)) == .holdAndArm(after: .milliseconds(25)))
        #expect(pacer.publish(at: start + .milliseconds(50)) == .hold)
        pacer.burst(at: start + .milliseconds(60))
        // A quick burst brings the spacing back to the interval.
        pacer.burstWritten(at: start + .milliseconds(61))
        #expect(pacer.spacing == .milliseconds(10))
        #expect(pacer.publish(at: start + .milliseconds(65)) == .holdAndArm(after: .milliseconds(5)))
        pacer.burst(at: start + .milliseconds(70))
        #expect(pacer.publish(at: start + .milliseconds(80)) == .deliverNow)
    }

    @Test func aTimerArmedBeforeTheSpacingGrewWaitsForTheNewSpacing() {
        let start = ContinuousClock.now
        // A burst begins at +10 (handed over early by a socket's read); a publish later in
        // the same iteration arms the timer for the interval's end (+20), before the burst's
        // writes are done.
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .milliseconds(1))
        pacer.burst(at: start + .milliseconds(10))
        #expect(pacer.publish(at: start + .milliseconds(12)) == .holdAndArm(after: .milliseconds(8)))
        // The writes are done at +19: the burst took 9 ms, so the spacing is 18 ms from +10.
        pacer.burstWritten(at: start + .milliseconds(19))
        #expect(pacer.spacing == .milliseconds(18))
        #expect(pacer.timerFired(at: start + .milliseconds(20)) == .milliseconds(8))
        #expect(pacer.isArmed && pacer.publish(at: start + .milliseconds(24)) == .hold)
        // Fired again at the new spacing's end (or within a millisecond of it): due.
        #expect(pacer.timerFired(at: start + .milliseconds(27) + .microseconds(500)) == nil)
        pacer.burst(at: start + .milliseconds(28))
        #expect(!pacer.isArmed)
    }

    @Test func aSpacingThatGrewByLessThanTheTimersAccuracyIsDue() {
        let start = ContinuousClock.now
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .milliseconds(1))
        pacer.burst(at: start + .milliseconds(10))
        #expect(pacer.publish(at: start + .milliseconds(12)) == .holdAndArm(after: .milliseconds(8)))
        // 5.25 ms to write: a 10.5 ms spacing, 0.5 ms past the timer's end.
        pacer.burstWritten(at: start + .milliseconds(15) + .microseconds(250))
        #expect(pacer.timerFired(at: start + .milliseconds(20)) == nil)
    }

    @Test func aTimerFiredWithTheSpacingItWasArmedForIsDueEvenIfEarly() {
        let start = ContinuousClock.now
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .milliseconds(1))
        #expect(pacer.publish(at: start + .milliseconds(2)) == .holdAndArm(after: .milliseconds(8)))
        // The loop's timers count from the iteration's start (its cached time), so they may
        // fire early by up to an iteration: the spacing they were armed for is trusted.
        #expect(pacer.timerFired(at: start + .milliseconds(7)) == nil)
    }

    @Test func aBurstSlowedByAStallDelaysTheNextByAtMostTheBound() {
        let start = ContinuousClock.now
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .seconds(5))
        #expect(pacer.spacing == DeliveryPacer.maxSpacing)
        #expect(pacer.publish(at: start + .seconds(5)) == .deliverNow)
        // An interval longer than the bound is kept.
        let slow = Self.pacer(interval: .seconds(2), firstBurstAt: start, took: .seconds(5))
        #expect(slow.spacing == .seconds(2))
    }

    @Test func aBurstQuickerThanHalfTheIntervalLeavesTheIntervalAlone() {
        let start = ContinuousClock.now
        var pacer = Self.pacer(interval: .milliseconds(10), firstBurstAt: start, took: .milliseconds(5))
        #expect(pacer.spacing == .milliseconds(10))
        #expect(pacer.publish(at: start + .milliseconds(10)) == .deliverNow)
    }

    // MARK: With sockets

    /// The members' sockets, as the route saw them.
    final class Members: Sendable {
        let sockets = Mutex<[WebSocket]>([])
    }

    /// A room "r" whose members' sockets the test can close from the server's side.
    struct Server {
        let group: EventLoopGroup
        let listener: TCPListener
        let rooms: RoomRegistry
        let members: Members
        let serving: Task<Void, any Error>

        static func start(delivery: RoomDelivery) async throws -> Server {
            let group = try EventLoopGroup(loopCount: 1)
            let rooms = RoomRegistry(group: group, delivery: delivery)
            let members = Members()
            var connection = WebSocketConfiguration()
            connection.keepAlive = .disabled
            var router = HTTPRouter<WebSocketRoute>()
            try router.addUpgrade("/room", WebSocketRoute(
                endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: .init()), connection: connection)
            ) { socket, _ in
                members.sockets.withLock { $0.append(socket) }
                try await rooms.serve(socket, in: "r", policy: .closeSlowConsumer) { _ in
                    for try await _ in socket.messages {}
                }
            })
            let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
            let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
            let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
            return Server(group: group, listener: listener, rooms: rooms, members: members, serving: serving)
        }

        var url: String { "ws://127.0.0.1:\(listener.localAddress.port)/room" }

        /// Connects `count` clients on `loop`, one after the other, each a member of "r"
        /// before the next connects; returns their readers (every text each reads, in order).
        func connectReaders(_ count: Int, on loop: EventLoop) async throws -> [Task<[String], any Error>] {
            var readers: [Task<[String], any Error>] = []
            for member in 1...count {
                let socket = try await WebSocket.connect(to: url, on: loop)
                readers.append(Task(executorPreference: loop) { () -> [String] in
                    var read: [String] = []
                    for try await message in socket.messages { if case .text(let text) = message { read.append(text) } }
                    return read
                })
                for _ in 0..<1_000 where await rooms.memberCount(of: "r") < member { try await loop.sleep(for: .milliseconds(10)) }
            }
            return readers
        }

        /// Closes every member's socket with 1001, as a graceful shutdown does.
        func closeMembers() async {
            for socket in members.sockets.withLock({ $0 }) { _ = await socket.close(code: .goingAway, reason: "shutting down") }
        }

        func stop() async -> Bool {
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            return await group.shutdown().allSatisfy { $0.isClean }
        }
    }

    /// Connects to `server`, waits until it is a member, publishes `texts` back to back, runs
    /// `beforeClose` (which can see what the client has read so far), closes the members with
    /// 1001, and returns what the client read and the close code it got.
    static func publishThenClose(_ texts: [String], on server: Server,
                                 beforeClose: (_ readSoFar: @escaping @Sendable () -> [String]) async throws -> Void)
        async throws -> (texts: [String], code: UInt16?) {
        let clients = try EventLoopGroup(loopCount: 1)
        let socket = try await WebSocket.connect(to: server.url, on: clients.loops[0])
        let read = Mutex<[String]>([])
        let reader = Task(executorPreference: clients.loops[0]) {
            for try await message in socket.messages { if case .text(let text) = message { read.withLock { $0.append(text) } } }
        }
        for _ in 0..<1_000 where await server.rooms.memberCount(of: "r") < 1 { try await clients.loops[0].sleep(for: .milliseconds(10)) }
        for text in texts { server.rooms.publish(.text(text), to: "r") }
        try await beforeClose { read.withLock { $0 } }
        await server.closeMembers()
        try await reader.value
        let code = await socket.waitUntilClosed().code.rawValue
        _ = await clients.shutdown()
        return (read.withLock { $0 }, code)
    }

    /// Waits until the client has read the first publish ("a", which went at the end of its
    /// loop iteration), publishes "b" (in a later iteration) and lets the loop run once more.
    static func publishBAfterTheBurst(on server: Server, readSoFar: () -> [String]) async throws {
        for _ in 0..<1_000 where readSoFar().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        server.rooms.publish(.text("b"), to: "r")
        try await server.group.loops[0].submit {}
    }

    @Test func publishesThatFollowABurstWaitForTheNextOne() async throws {
        // An interval far longer than the test: the second publish can only be held.
        let server = try await Server.start(delivery: .coalesced(atMostEvery: .seconds(60)))
        let result = try await Self.publishThenClose(["a"], on: server) { readSoFar in
            try await Self.publishBAfterTheBurst(on: server, readSoFar: readSoFar)
        }
        #expect(result.texts == ["a"], "the held publish was delivered early: \(result.texts)")
        #expect(result.code == 1001)
        #expect(await server.stop())
    }

    /// A publish held after a burst leaves when the interval ends, with nothing else
    /// happening: the shard's timer fires and the burst goes out in that loop iteration.
    @Test func aHeldPublishLeavesWhenTheIntervalEnds() async throws {
        // Long enough that "b", published as soon as "a" is read, is held (and checked to
        // be, one loop iteration later) even on a loaded machine; short enough to wait for.
        let server = try await Server.start(delivery: .coalesced(atMostEvery: .seconds(2)))
        let result = try await Self.publishThenClose(["a"], on: server) { readSoFar in
            try await Self.publishBAfterTheBurst(on: server, readSoFar: readSoFar)
            #expect(readSoFar() == ["a"], "the publish after the burst was not held")
            // Only the timer can send it now (bounded: 10 s).
            for _ in 0..<1_000 where readSoFar().count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(result.texts == ["a", "b"], "the held publish never left: \(result.texts)")
        #expect(result.code == 1001)
        #expect(await server.stop())
    }

    /// A publish after a quiet interval leaves at the end of the loop iteration it arrived
    /// in, and takes along everything else the loop runs in that iteration: on a loop busy
    /// writing, that is everything published meanwhile (which then shares one burst, so one
    /// write per member; this test checks that none of it waits for the interval).
    @Test func publishesThatReachTheLoopInOneIterationLeaveTogether() async throws {
        let server = try await Server.start(delivery: .coalesced(atMostEvery: .seconds(60)))
        let loop = server.group.loops[0]
        let result = try await Self.publishThenClose([], on: server) { _ in
            // Jobs queued in one go run in one loop iteration.
            try await loop.submit {
                for text in ["a", "b", "c"] { server.rooms.publish(.text(text), to: "r") }
            }
            try await loop.submit {}
        }
        #expect(result.texts == ["a", "b", "c"])
        #expect(result.code == 1001)
        #expect(await server.stop())
    }

    /// A burst of small messages goes to each member as one buffer, joined once for all of
    /// them (`SharedFrames`); a burst too large for that goes frame by frame. Either way every
    /// member reads every message in order, and each message is counted as delivered.
    @Test(arguments: [8, 1_024])
    func aBurstReachesEveryMemberInOrderAndIsCountedPerMessage(payloadSize: Int) async throws {
        let server = try await Server.start(delivery: .perIteration)
        let clients = try EventLoopGroup(loopCount: 1)
        let readers = try await server.connectReaders(3, on: clients.loops[0])
        let texts = (0..<20).map { index in String(index) + String(repeating: "x", count: payloadSize) }
        let loop = server.group.loops[0]
        // Jobs queued in one go run in one loop iteration: the twenty leave in one burst.
        try await loop.submit { for text in texts { server.rooms.publish(.text(text), to: "r") } }
        try await loop.submit {}
        let counters = await server.rooms.counters(of: "r")
        await server.closeMembers()
        for reader in readers { #expect(try await reader.value == texts) }
        #expect(counters.enqueued == 60 && counters.delivered == 60 && counters.dropped == 0, "\(counters)")
        _ = await clients.shutdown()
        #expect(await server.stop())
    }

    @Test func aShardLearnsHowLongItsBurstTookToWrite() async throws {
        let server = try await Server.start(delivery: .coalesced(atMostEvery: .milliseconds(16)))
        let result = try await Self.publishThenClose(["a"], on: server) { readSoFar in
            for _ in 0..<1_000 where readSoFar().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(result.texts == ["a"])
        let shard = try #require(server.rooms.allShards.first)
        let took = try #require(await shard.lastBurstTook)
        #expect(took > .zero, "the burst's write time was never measured")
        #expect(await server.stop())
    }

    @Test func flushingPendingDeliversWhatWaitsBeforeTheCloseFrame() async throws {
        let server = try await Server.start(delivery: .coalesced(atMostEvery: .seconds(60)))
        let result = try await Self.publishThenClose(["a", "b", "c"], on: server) { _ in
            await server.rooms.flushPending()
        }
        #expect(result.texts == ["a", "b", "c"])
        #expect(result.code == 1001)
        #expect(await server.stop())
    }

    /// Immediate delivery holds nothing; per-iteration delivery holds publishes only until
    /// the end of the loop iteration they arrived in: one iteration later all have left.
    @Test(arguments: [RoomDelivery.immediate, .perIteration])
    func deliveryThatHoldsAtMostAnIterationHasSentEverythingAnIterationLater(delivery: RoomDelivery) async throws {
        let server = try await Server.start(delivery: delivery)
        let result = try await Self.publishThenClose(["a", "b", "c"], on: server) { _ in
            try await server.group.loops[0].submit {}
        }
        #expect(result.texts == ["a", "b", "c"])
        #expect(result.code == 1001)
        #expect(await server.stop())
    }

    /// Per-iteration delivery holds publishes until the iteration ends; a join that runs
    /// between two of them (in the same iteration) still sits at its exact point: the member
    /// gets the second and not the first, as with immediate delivery.
    @Test(arguments: [RoomDelivery.immediate, .perIteration])
    func aJoinBetweenTwoPublishesOfOneIterationGetsOnlyTheSecond(delivery: RoomDelivery) async throws {
        let server = try await Server.start(delivery: delivery)
        let clients = try EventLoopGroup(loopCount: 1)
        let readers = try await server.connectReaders(2, on: clients.loops[0])
        let sockets = server.members.sockets.withLock { $0 }
        try #require(sockets.count == 2)
        let loop = server.group.loops[0]
        let shard = RoomShard(loop: loop, delivery: delivery)
        let first = Outbox(socket: sockets[0], policy: .dropOldest)
        let second = Outbox(socket: sockets[1], policy: .dropOldest)
        await shard.join(first, room: "x", floor: nil)
        // Three jobs queued in one go run in order in one loop iteration: publish, join, publish.
        try await loop.submit {
            shard.deliver(PreparedMessage(.text("a")), to: "x", key: nil, position: nil)
            loop.execute { shard.assumeIsolated { $0.join(second, room: "x", floor: nil) } }
            shard.deliver(PreparedMessage(.text("b")), to: "x", key: nil, position: nil)
        }
        try await loop.submit {}
        await server.closeMembers()
        #expect(try await readers[0].value == ["a", "b"])
        #expect(try await readers[1].value == ["b"], "the join sits between the two publishes")
        _ = await clients.shutdown()
        #expect(await server.stop())
    }

    /// Per-iteration delivery keeps a member's order with what its socket sends of its own in
    /// the same iteration: a direct send, and a Close, leave after the publishes held before
    /// them, as with immediate delivery (the socket hands held output over before it writes).
    @Test(arguments: [RoomDelivery.immediate, .perIteration])
    func aDirectSendAndACloseInOneIterationComeAfterTheHeldPublishes(delivery: RoomDelivery) async throws {
        let server = try await Server.start(delivery: delivery)
        let clients = try EventLoopGroup(loopCount: 1)
        let client = try await WebSocket.connect(to: server.url, on: clients.loops[0])
        let reader = Task(executorPreference: clients.loops[0]) { () -> [String] in
            var read: [String] = []
            for try await message in client.messages { if case .text(let text) = message { read.append(text) } }
            return read
        }
        for _ in 0..<1_000 where await server.rooms.memberCount(of: "r") < 1 { try await clients.loops[0].sleep(for: .milliseconds(10)) }
        let socket = try #require(server.members.sockets.withLock { $0 }.first)
        let loop = server.group.loops[0]
        let shard = RoomShard(loop: loop, delivery: delivery)
        await shard.join(Outbox(socket: socket, policy: .dropOldest), room: "x", floor: nil)
        // Jobs queued in one go run in order in one loop iteration.
        try await loop.submit {
            shard.deliver(PreparedMessage(.text("a")), to: "x", key: nil, position: nil)
            loop.execute { _ = try? socket.sendWithoutWaiting(.text("direct")) }
            shard.deliver(PreparedMessage(.text("b")), to: "x", key: nil, position: nil)
            loop.execute { socket.beginClosing(code: .goingAway, reason: "bye") }
        }
        #expect(try await reader.value == ["a", "direct", "b"])
        _ = await clients.shutdown()
        #expect(await server.stop())
    }

    /// A burst to an ordered room hands each member the positions above its floor, as if
    /// each had been offered in turn: rising positions (a run's events) are cut at the floor
    /// in one step; others (a repeated or stale position) are checked one by one.
    @Test func aBurstGivesEachOrderedMemberThePositionsAboveItsFloor() async throws {
        #expect(RoomShard.risingPositions(Self.deliveries([1, 2, 5])[...])! == (1, 5))
        #expect(RoomShard.risingPositions(Self.deliveries([1, 2, 2])[...]) == nil)
        #expect(RoomShard.risingPositions(Self.deliveries([1, nil, 3])[...]) == nil)

        let server = try await Server.start(delivery: .perIteration)
        let clients = try EventLoopGroup(loopCount: 1)
        let readers = try await server.connectReaders(4, on: clients.loops[0])
        let sockets = server.members.sockets.withLock { $0 }
        try #require(sockets.count == 4)
        let loop = server.group.loops[0]
        let shard = RoomShard(loop: loop, delivery: .perIteration)
        for (socket, floor) in zip(sockets, [Int64.min, 2, 5, 7]) {
            await shard.join(Outbox(socket: socket, policy: .dropOldest), room: "x", floor: MemberFloor(floor))
        }
        // Each submit's publishes reach the loop in one iteration: one burst each.
        try await loop.submit {
            for position in Int64(1)...5 { shard.deliver(PreparedMessage(.text("p\(position)")), to: "x", key: nil, position: position) }
        }
        try await loop.submit {
            for (text, position) in [("a", Int64(6)), ("b", 6), ("c", 4), ("d", 8)] {
                shard.deliver(PreparedMessage(.text(text)), to: "x", key: nil, position: position)
            }
        }
        try await loop.submit {}
        await server.closeMembers()
        var read: [[String]] = []
        for reader in readers { read.append(try await reader.value) }
        #expect(read == [["p1", "p2", "p3", "p4", "p5", "a", "d"], ["p3", "p4", "p5", "a", "d"], ["a", "d"], ["d"]])
        _ = await clients.shutdown()
        #expect(await server.stop())
    }

    static func deliveries(_ positions: [Int64?]) -> [PendingDelivery] {
        positions.map { PendingDelivery(message: PreparedMessage(.text("m")), room: "x", key: nil, position: $0) }
    }
}
