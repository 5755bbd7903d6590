import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import EddyShared
import Testing

@Suite("Rooms: fan-out that a slow client cannot stall", .timeLimit(.minutes(3)))
struct RoomFanOutTests {
    /// Under coalesced delivery each batch reaches the members as bursts, offered several
    /// messages at a time: the limits hold all the same.
    @Test(arguments: [RoomDelivery.immediate, .coalesced(atMostEvery: .milliseconds(2)), .perIteration])
    func aStalledSubscriberNeitherBlocksOthersNorHoldsMoreThanItsLimit(delivery: RoomDelivery) async throws {
        let limits = OutboxLimits(maxBytes: 128 * 1024, maxMessages: 100_000)
        let server = try await RoomServer.start(policy: .dropOldest, limits: limits, delivery: delivery)
        let clients = try EventLoopGroup(loopCount: 2)
        let stalled = try await stalledSubscriber(port: server.listener.localAddress.port, on: clients.loops[0])
        let total = 20_000
        let received = ProgressBoard(count: 3)
        var readers: [Task<Bool, any Error>] = []
        for index in 0..<3 {
            let loop = clients.loops[index % 2]
            let socket = try await WebSocket.connect(to: server.url, on: loop)
            readers.append(Task(executorPreference: loop) {
                var expected = 0
                for try await message in socket.messages {
                    guard message == .binary(Self.payload(expected)) else { return false }
                    expected += 1
                    received.set(index, expected)
                    if expected == total { break }
                }
                await socket.close()
                return expected == total
            })
        }
        #expect(try await server.waitForMembers(4))
        // Publish 20 MB in batches, each after the fast subscribers caught up with the
        // previous one: the stalled subscriber is never waited for.
        for batch in stride(from: 0, to: total, by: 200) {
            for i in batch..<(batch + 200) { server.rooms.publish(.binary(Self.payload(i)), to: "r") }
            for _ in 0..<2_000 where received.minimum < batch + 200 {
                try await clients.loops[0].sleep(for: .milliseconds(2))
            }
        }
        for reader in readers { #expect(try await reader.value) }
        let counters = await server.rooms.counters(of: "r")
        #expect(counters.queuedBytesHighWaterMark <= limits.maxBytes)
        #expect(counters.dropped > 0) // only the stalled subscriber can drop
        await stalled.close()
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await server.stop())
    }

    @Test func theClosePolicyDisconnectsAStalledSubscriberWith1013() async throws {
        let server = try await RoomServer.start(policy: .close(code: 1013, reason: "try again later"),
                                                limits: OutboxLimits(maxBytes: 64 * 1024))
        let clients = try EventLoopGroup(loopCount: 1)
        let stalled = try await stalledSubscriber(port: server.listener.localAddress.port, on: clients.loops[0])
        #expect(try await server.waitForMembers(1))
        var published = 0
        while await server.rooms.memberCount(of: "r") == 1, published < 100_000 {
            for _ in 0..<100 { server.rooms.publish(.binary([UInt8](repeating: 1, count: 1024)), to: "r") }
            published += 100
            try await clients.loops[0].sleep(for: .milliseconds(1))
        }
        #expect(try await server.waitForMembers(0, seconds: 30))
        #expect(await server.rooms.counters(of: "r").members == 0)
        await stalled.close()
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await server.stop())
    }

    /// Under per-iteration delivery the publishes of one loop iteration reach a member in one
    /// call, with the frame lists shared by every member of the same compression window.
    @Test(arguments: [RoomDelivery.immediate, .perIteration])
    func pythonSubscribersWithAndWithoutCompressionGetEveryMessageInOrder(delivery: RoomDelivery) async throws {
        let server = try await RoomServer.start(policy: .dropNewest, compression: true, delivery: delivery)
        let peers = try PeerProcess([Peers.script("ws_fanout_subscribers.py"), server.url, "20", "500", "--compressed-every", "2", "--pad", "300"])
        let ready = try await peers.line(startingWith: "READY")
        #expect(ready == "READY 20", "\(peers.output)")
        #expect(try await server.waitForMembers(20))
        // Over the compression threshold: compressed once, shared by the compressed half.
        let padding = String(repeating: "x", count: 300)
        for i in 0..<500 { server.rooms.publish(.text("seq:\(i)" + padding), to: "r") }
        #expect(await peers.waitForExit() == 0, "\(peers.output)")
        #expect(peers.output.contains("OK 20 500 compressed=10"), "\(peers.output)")
        #expect(await server.stop())
    }

    @Test func tenThousandMembersAllReceiveEveryMessageInOrder() async throws {
        let server = try await RoomServer.start(policy: .dropNewest)
        let peers = try PeerProcess([Peers.script("ws_fanout_subscribers.py"), server.url, "10000", "20"])
        let ready = try await peers.line(startingWith: "READY", seconds: 150)
        #expect(ready == "READY 10000", "\(peers.output.suffix(5))")
        #expect(try await server.waitForMembers(10_000))
        for i in 0..<20 { server.rooms.publish(.text("seq:\(i)"), to: "r") }
        #expect(await peers.waitForExit() == 0, "\(peers.output.suffix(5))")
        #expect(peers.output.contains("OK 10000 20 compressed=0"), "\(peers.output.suffix(5))")
        let counters = await server.rooms.counters(of: "r")
        #expect(counters.dropped == 0)
        #expect(await server.stop())
    }

    static func payload(_ index: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 1024)
        withUnsafeBytes(of: UInt64(index).bigEndian) { for (i, b) in $0.enumerated() { bytes[i] = b } }
        return bytes
    }
}

/// Per-reader progress, shared between reader tasks and the publisher.
final class ProgressBoard: Sendable {
    private let values: Mutex<[Int]>
    init(count: Int) { values = Mutex(Array(repeating: 0, count: count)) }
    func set(_ index: Int, _ value: Int) { values.withLock { $0[index] = value } }
    var minimum: Int { values.withLock { $0.min() ?? 0 } }
}
