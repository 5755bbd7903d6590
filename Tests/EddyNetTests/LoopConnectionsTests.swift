@testable import EddyNet
import EddyLoop
import Testing

/// The loop's list of open connections (`LoopConnections`): it stands for all of them in the
/// loop's resources, forgets each one when it closes, whatever the order, and registers again
/// after it emptied.
@Suite("The loop's list of open connections", .timeLimit(.minutes(3)))
struct LoopConnectionsTests {
    @Test func connectionsLeaveTheListInAnyOrderAndTheListRegistersAgain() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        var clients: [TCPConnection] = []
        for _ in 0..<5 {
            clients.append(try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop))
        }
        var iterator = listener.connections.makeAsyncIterator()
        var servers: [TCPConnection] = []
        for _ in 0..<5 { servers.append(try #require(try await iterator.next())) }
        // The listener's acceptor and one entry for all ten connections.
        #expect(try await loop.submit { loop.resources.count } == 2)
        // Middle, first-inserted, last-inserted, then the rest.
        for index in [2, 0, 4, 1, 3] {
            await clients[index].close()
            await servers[index].close()
        }
        #expect(try await loop.submit { loop.resources.count } == 1)
        let again = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop)
        let accepted = try #require(try await iterator.next())
        #expect(try await loop.submit { loop.resources.count } == 2)
        #expect(await again.counters().bytesRead == 0)
        await listener.close()
        // The shutdown closes the two still open and waits for them.
        #expect(await group.shutdown().allSatisfy { $0.isClean })
        #expect(await accepted.counters().outboundQueued == 0)
    }
}
