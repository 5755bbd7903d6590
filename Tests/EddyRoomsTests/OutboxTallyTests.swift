import EddyLoop
import EddyMetrics
import EddyRooms
import MetricsTestKit
import Testing

/// The outboxes' metric tallies agree with their own counters: a stalled member's drops and
/// queue, folded from the server's loops, and the queue gauge back at zero once it leaves.
@Suite("Rooms: outbox metrics", .timeLimit(.minutes(3)))
struct OutboxTallyTests {
    @Test func aStalledMembersDropsAndQueueAreTalliedAndItsQueueLeavesWithIt() async throws {
        let metrics = TestMetrics()
        let folder = TallyFolder(factory: metrics)
        let server = try await RoomServer.start(policy: .dropOldest, limits: OutboxLimits(maxBytes: 64 * 1024, maxMessages: 100))
        let client = try EventLoop()
        let stalled = try await stalledSubscriber(port: server.listener.localAddress.port, on: client)
        #expect(try await server.waitForMembers(1))
        let payload = [UInt8](repeating: 7, count: 1024)
        for _ in 0..<3_000 { server.rooms.publish(.binary(payload), to: "r") }
        // Bounded wait until every publication has reached the outbox (delivered, queued or dropped).
        var counters = await server.rooms.counters(of: "r")
        for _ in 0..<500 where counters.enqueued < 3_000 {
            try await client.sleep(for: .milliseconds(10))
            counters = await server.rooms.counters(of: "r")
        }
        #expect(counters.enqueued == 3_000)
        #expect(counters.dropped > 0)

        await folder.foldNow(on: server.group)
        let queued = counters.enqueued - counters.delivered - counters.dropped
        #expect(try metrics.expectCounter("eddy_outbox_dropped_messages_total").totalValue == Int64(counters.dropped))
        #expect(try metrics.expectMeter("eddy_outbox_queued_messages").lastValue == Double(queued))
        #expect(queued > 0)

        // The member leaves: what its outbox held leaves the gauge (bounded wait).
        await stalled.close()
        var gauge = Double(queued)
        for _ in 0..<500 where gauge != 0 {
            try await client.sleep(for: .milliseconds(10))
            await folder.foldNow(on: server.group)
            gauge = try metrics.expectMeter("eddy_outbox_queued_messages").lastValue ?? -1
        }
        #expect(gauge == 0)
        #expect(await server.stop())
        _ = await client.shutdown()
    }
}
