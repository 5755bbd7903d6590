import EddyTestSupport
import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import EddyShared
import Testing

@Suite("Rooms: concurrent join, leave, close and publish", .timeLimit(.minutes(2)))
struct RoomConcurrencyTests {
    static let roomNames = ["a", "b", "c"]

    /// The rooms connection `id` ends its churn in: bit i of `id` selects `roomNames[i]`.
    static func finalRooms(of id: Int) -> Set<String> {
        Set(roomNames.indices.filter { (id >> $0) & 1 == 1 }.map { roomNames[$0] })
    }

    /// Every fourth client disconnects when its server handler is halfway through its churn.
    static func disconnectsMidway(_ id: Int) -> Bool { id % 4 == 3 }

    @Test func churningMembershipWhilePublishingAndDisconnectingEndsExact() async throws {
        let connections = 32
        let tally = Tally()
        let server = try await Self.startChurnServer(operations: 400, tally: tally)
        let clients = try EventLoopGroup(loopCount: 2)
        let base = "ws://127.0.0.1:\(server.listener.localAddress.port)/churn"
        // A client whose closing handshake times out closes TCP while its server handler
        // (churning, not reading) still writes publishes: EPIPE, and SIGPIPE kills the
        // process (Eddy does not ignore SIGPIPE). Slow runs (TSan) may need more than 10 s.
        var configuration = WebSocketClientConfiguration()
        configuration.connection.closeTimeout = .seconds(60)

        var readers: [Task<Bool, any Error>] = []
        for id in 0..<connections {
            let loop = clients.loops[id % 2]
            let socket = try await WebSocket.connect(to: "\(base)/\(id)", configuration: configuration, on: loop)
            readers.append(Task(executorPreference: loop) {
                // Per (room, publisher), sequence numbers must only increase (with gaps:
                // membership changes while they publish).
                var last: [String: Int] = [:]
                var inOrder = true
                for try await message in socket.messages {
                    guard case .text(let text) = message else { inOrder = false; continue }
                    if text == "halfway" {
                        if Self.disconnectsMidway(id) { break } else { continue }
                    }
                    if text == "bye" { break }
                    let parts = text.split(separator: " ")
                    guard parts.count == 3, let seq = Int(parts[2]) else { inOrder = false; continue }
                    let key = "\(parts[0])/\(parts[1])"
                    if let previous = last[key], previous >= seq { inOrder = false }
                    last[key] = seq
                }
                // Closed from the reading task: a `close()` from another task while
                // `messages` is between reads can race it for the transport (1006).
                await socket.close()
                return inOrder
            })
        }

        // Publishers run while the handlers churn (at least 300 messages each, then until
        // every handler has settled in its final rooms), paced by the server's loops so
        // that a slow run (TSan) is not flooded.
        var publishers: [Task<Int, any Error>] = []
        for p in 0..<3 {
            let loop = clients.loops[p % 2]
            publishers.append(Task {
                var rng = SplitMix64(seed: 1_000 + UInt64(p))
                var seq = 0
                while seq < 300 || (tally.settled < connections && seq < 20_000) {
                    for _ in 0..<20 {
                        let room = Self.roomNames[Int(rng.next() % 3)]
                        server.rooms.publish(.text("\(room) \(p) \(seq)"), to: room)
                        seq += 1
                    }
                    for serverLoop in server.group.loops { try await serverLoop.submit {} } // deliveries so far ran
                    try await loop.sleep(for: .milliseconds(1))
                }
                return seq
            })
        }
        tally.start() // every handler churns from here on, while the publishers publish
        for publisher in publishers { #expect(try await publisher.value >= 300) }

        let disconnecting = (0..<connections).filter(Self.disconnectsMidway).count
        #expect(try await Self.waitUntil(on: clients.loops[0]) { tally.settled == connections })
        #expect(try await Self.waitUntil(on: clients.loops[0]) { tally.finished == disconnecting })

        for room in Self.roomNames {
            let expected = (0..<connections).filter { !Self.disconnectsMidway($0) && Self.finalRooms(of: $0).contains(room) }.count
            #expect(await server.rooms.memberCount(of: room) == expected, "room \(room)")
            let counters = await server.rooms.counters(of: room)
            #expect(counters.members == expected && counters.dropped == 0, "room \(room): \(counters)")
        }

        #expect(await server.rooms.memberCount(of: "z") == connections - disconnecting)
        // Everyone else leaves by closing on "bye": `serve` must take them out of every room.
        server.rooms.publish(.text("bye"), to: "z")
        for reader in readers { #expect(try await reader.value) }
        #expect(try await Self.waitUntil(on: clients.loops[0]) { tally.finished == connections })
        for room in Self.roomNames + ["z"] {
            #expect(await server.rooms.memberCount(of: room) == 0, "room \(room)")
        }
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await server.stop())
    }

    @Test func publishesFromEightConcurrentTasksArriveInPerPublisherOrder() async throws {
        let server = try await RoomServer.start(policy: .dropNewest, limits: OutboxLimits(maxBytes: 64 << 20, maxMessages: 1 << 20))
        let clients = try EventLoopGroup(loopCount: 1)
        let socket = try await WebSocket.connect(to: server.url, on: clients.loops[0])
        #expect(try await server.waitForMembers(1))
        let publishers = 8, perPublisher = 2_000
        let reader = Task(executorPreference: clients.loops[0]) { () -> (received: Int, inOrder: Bool) in
            var next = [Int](repeating: 0, count: publishers)
            var received = 0, inOrder = true
            for try await message in socket.messages {
                guard case .text(let text) = message else { inOrder = false; continue }
                let parts = text.split(separator: " ")
                guard parts.count == 2, let p = Int(parts[0]), let seq = Int(parts[1]), next.indices.contains(p) else {
                    inOrder = false; continue
                }
                if seq != next[p] { inOrder = false }
                next[p] = seq + 1
                received += 1
                if received == publishers * perPublisher { break }
            }
            return (received, inOrder)
        }
        // Half publish from the pool's threads, half from the server's loop threads.
        var tasks: [Task<Void, Never>] = []
        for p in 0..<publishers {
            let rooms = server.rooms
            if p % 2 == 0 {
                tasks.append(Task { await Self.publishSequence(publisher: p, count: perPublisher, to: rooms) })
            } else {
                tasks.append(Task(executorPreference: server.group.loops[p / 2 % 2]) {
                    await Self.publishSequence(publisher: p, count: perPublisher, to: rooms)
                })
            }
        }
        for task in tasks { await task.value }
        let result = try await reader.value
        #expect(result.received == publishers * perPublisher)
        #expect(result.inOrder)
        #expect(await server.rooms.counters(of: "r").dropped == 0)
        await socket.close()
        #expect(try await server.waitForMembers(0, seconds: 30))
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await server.stop())
    }

    static func publishSequence(publisher p: Int, count: Int, to rooms: RoomRegistry) async {
        for seq in 0..<count {
            rooms.publish(.text("\(p) \(seq)"), to: "r")
            if seq % 64 == 0 { await Task.yield() }
        }
    }

    /// A server whose `/churn/{id}` handler joins, leaves and leaves-all rooms "a", "b", "c"
    /// at random (seeded by `id`) `operations` times, sends "halfway" in the middle, ends in
    /// `finalRooms(of: id)` plus "z", then stays until its client closes.
    static func startChurnServer(operations: Int, tally: Tally) async throws -> RoomServer {
        let group = try EventLoopGroup(loopCount: 2)
        let rooms = RoomRegistry(group: group)
        var connection = WebSocketConfiguration()
        connection.keepAlive = .disabled
        connection.closeTimeout = .seconds(1)
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/churn/{id}", WebSocketRoute(
            endpoint: WebSocketEndpoint(connection: connection)
        ) { socket, context in
            let id = Int(context.parameters["id"] ?? "") ?? -1
            defer { tally.finish() }
            var rng = SplitMix64(seed: UInt64(id) &* 7_919 &+ 17)
            var waited = 0
            while !tally.started, waited < 30_000 { // until every client is connected
                try await socket.eventLoop.sleep(for: .milliseconds(1))
                waited += 1
            }
            try await rooms.serve(socket, in: "a", policy: .dropNewest, limits: OutboxLimits(maxBytes: 16 << 20, maxMessages: 1 << 20)) { outbox in
                for op in 0..<operations {
                    if op == operations / 2 { try? await socket.send(text: "halfway") }
                    let room = roomNames[Int(rng.next() % 3)]
                    switch rng.next() % 9 {
                    case 0: await rooms.leaveAll(outbox)
                    case 1...4: await rooms.join(outbox, room: room)
                    default: await rooms.leave(outbox, room: room)
                    }
                    if op % 50 == 49 {
                        try await socket.eventLoop.sleep(for: .milliseconds(1)) // let publishes land
                    } else if rng.next() % 4 == 0 {
                        await Task.yield()
                    }
                }
                let final = finalRooms(of: id)
                for room in roomNames {
                    if final.contains(room) { await rooms.join(outbox, room: room) } else { await rooms.leave(outbox, room: room) }
                }
                await rooms.join(outbox, room: "z") // only for the final "bye"
                tally.settle()
                for try await _ in socket.messages {}
            }
        })
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, backlog: 1024, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return RoomServer(group: group, listener: listener, rooms: rooms, serving: serving)
    }

    /// Polls `condition` every 10 ms for at most `seconds`.
    static func waitUntil(on loop: EventLoop, seconds: Int = 60, _ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<(seconds * 100) {
            if condition() { return true }
            try await loop.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// Whether handlers may start churning; handlers that reached their final rooms, and handlers that returned.
final class Tally: Sendable {
    private let counts = Mutex((started: false, settled: 0, finished: 0))
    func start() { counts.withLock { $0.started = true } }
    func settle() { counts.withLock { $0.settled += 1 } }
    func finish() { counts.withLock { $0.finished += 1 } }
    var started: Bool { counts.withLock { $0.started } }
    var settled: Int { counts.withLock { $0.settled } }
    var finished: Int { counts.withLock { $0.finished } }
}
