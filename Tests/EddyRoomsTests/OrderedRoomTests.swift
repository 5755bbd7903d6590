import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import Synchronization
import Testing

/// Ordered rooms: a member joins at the head of a positioned stream and gets exactly what
/// follows, once, in order, however its join interleaves with publishing.
@Suite("Rooms: ordered streams with an atomic join at the head", .timeLimit(.minutes(2)))
struct OrderedRoomTests {
    /// A source of positions: `head` is stored before the position is published, as an
    /// engine's state is updated before its subscribers hear of the event.
    final class Source: Sendable {
        let head = Atomic<Int64>(0)
    }

    struct Server {
        let group: EventLoopGroup
        let listener: TCPListener
        let rooms: RoomRegistry
        let serving: Task<Void, any Error>
        var port: Int { listener.localAddress.port }

        func stop() async -> Bool {
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            return await group.shutdown().allSatisfy { $0.isClean }
        }
    }

    /// `/ordered` joins room "o" at the source's head (the start message says where);
    /// `/plain` joins it as a plain member, which gets every publish.
    static func startServer(_ source: Source, delivery: RoomDelivery = .immediate) async throws -> Server {
        let group = try EventLoopGroup(loopCount: 2)
        let rooms = RoomRegistry(delivery: delivery) // shards appear as members join, on both loops
        let limits = OutboxLimits(maxBytes: 16 << 20, maxMessages: 100_000)
        var connection = WebSocketConfiguration()
        connection.keepAlive = .disabled
        let endpoint = WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: .init()), connection: connection)
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/ordered", WebSocketRoute(endpoint: endpoint) { socket, _ in
            let outbox = Outbox(socket: socket, policy: .closeSlowConsumer, limits: limits)
            try await rooms.serve(outbox, in: "o", floor: MemberFloor(), startingAt: {
                let head = source.head.load(ordering: .acquiring)
                outbox.offer(frame: PreparedMessage(.text("joined \(head)")).uncompressed)
                return head
            }) {
                for try await _ in socket.messages {}
            }
        })
        try router.addUpgrade("/plain", WebSocketRoute(endpoint: endpoint) { socket, _ in
            try await rooms.serve(socket, in: "o", policy: .closeSlowConsumer, limits: limits) { _ in
                for try await _ in socket.messages {}
            }
        })
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return Server(group: group, listener: listener, rooms: rooms, serving: serving)
    }

    /// Every text message until "end".
    static func readUntilEnd(_ socket: WebSocket) async throws -> [String] {
        var texts: [String] = []
        for try await message in socket.messages {
            guard case .text(let text) = message else { continue }
            if text == "end" { break }
            texts.append(text)
        }
        await socket.close()
        return texts
    }

    /// Under coalesced delivery the publishes of 3 ms go out together, so joins also land
    /// while publishes wait for their burst: the floor must still make them exact.
    @Test(arguments: [RoomDelivery.immediate, .coalesced(atMostEvery: .milliseconds(3)), .perIteration])
    func membersJoiningWhilePositionsArePublishedGetExactlyWhatFollowsTheirJoin(delivery: RoomDelivery) async throws {
        let source = Source()
        let server = try await Self.startServer(source, delivery: delivery)
        let clients = try EventLoopGroup(loopCount: 2)
        let last: Int64 = 3_000

        // The plain member is in the room before publishing starts: it sees every publish.
        let plain = try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/plain", on: clients.loops[0])
        let plainReader = Task(executorPreference: clients.loops[0]) { try await Self.readUntilEnd(plain) }
        for _ in 0..<500 where await server.rooms.memberCount(of: "o") < 1 { try await clients.loops[0].sleep(for: .milliseconds(10)) }

        // What the publisher sends, in order: each position once, every 100th twice (as a
        // feed replaced after it ended might), every 250th followed by a stale position and
        // an unpositioned heartbeat.
        let publisher = Task { () -> [String] in
            var published: [String] = []
            func send(_ text: String, at position: Int64?) {
                server.rooms.publish(PreparedMessage(.text(text)), to: "o", position: position)
                published.append(text)
            }
            for position in 1...last {
                source.head.store(position, ordering: .releasing)
                send("\(position)", at: position)
                if position % 100 == 0 { send("\(position)", at: position) }
                if position % 250 == 0 {
                    send("\(position - 40)", at: position - 40)
                    send("beat", at: nil)
                }
                if position % 30 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            }
            return published
        }

        // Ordered members join while that runs, on both client loops.
        var readers: [Task<[String], any Error>] = []
        for index in 0..<12 {
            let loop = clients.loops[index % 2]
            let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/ordered", on: loop)
            readers.append(Task(executorPreference: loop) { try await Self.readUntilEnd(socket) })
            try await loop.sleep(for: .milliseconds(8))
        }
        let published = await publisher.value
        for _ in 0..<1_000 where await server.rooms.memberCount(of: "o") < 13 { try await clients.loops[0].sleep(for: .milliseconds(10)) }
        #expect(await server.rooms.memberCount(of: "o") == 13)
        server.rooms.publish(PreparedMessage(.text("end")), to: "o")

        let plainTexts = try await plainReader.value
        let plainGotEverything = plainTexts == published
        #expect(plainGotEverything, "the plain member got \(plainTexts.count) of \(published.count)")
        var heads: Set<Int64> = []
        for reader in readers {
            let texts = try await reader.value
            guard let first = texts.first, first.hasPrefix("joined "), let head = Int64(first.dropFirst(7)) else {
                Issue.record("no join message: \(texts.prefix(3))")
                continue
            }
            heads.insert(head)
            let positions = Array(texts.dropFirst().filter { $0 != "beat" })
            let expected = (head + 1 ..< last + 1).map { "\($0)" }
            let firstDifference = zip(positions, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(positions.count, expected.count)
            let exact = positions == expected // (not inside #expect, which would print both arrays)
            #expect(exact,
                    "joined at \(head): \(positions.count) positions, expected \(expected.count); from index \(firstDifference): \(positions.dropFirst(firstDifference).prefix(5))")
            // Heartbeats are not positioned: each one published after the member's first
            // live position arrives (it had joined by then), and none twice.
            let beats = texts.filter { $0 == "beat" }.count
            let beatsSurelyAfterJoin = published.firstIndex(of: "\(head + 1)").map { published[$0...].filter { $0 == "beat" }.count } ?? 0
            #expect(beats >= beatsSurelyAfterJoin && beats <= published.filter { $0 == "beat" }.count, "joined at \(head): \(beats) beats")
        }
        // The joins really did interleave with publishing (not all at one end of it).
        #expect(heads.count > 1, "\(heads)")

        _ = await clients.shutdown()
        #expect(await server.stop())
    }
}
