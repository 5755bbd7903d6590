import EddyLoop
import EddyMetrics
import EddyNet
import MetricsTestKit
import Testing

/// The listener's hooks: accepted, refused by status, closed and open, counted on the server's
/// loop and folded from it (the client runs on a loop of its own, which is not folded).
@Suite("Metrics: connections accepted, refused, closed", .timeLimit(.minutes(3)))
struct ConnectionTallyTests {
    @Test func aRefusalAtCapacityIsA503AndAClosedConnectionLeavesNoneOpen() async throws {
        let metrics = TestMetrics()
        let folder = TallyFolder(factory: metrics)
        let server = try EventLoopGroup(loopCount: 1)
        let client = try EventLoop()
        var limits = ConnectionLimits(maxConnections: 1)
        limits.refusals[.capacity] = Array("full\n".utf8)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: server, limits: limits)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                for try await _ in connection.inbound {}
            }
        }
        let port = listener.localAddress.port
        let held = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: client)
        for _ in 0..<500 where listener.openCount < 1 { try await client.sleep(for: .milliseconds(10)) }
        let refused = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: client)
        var told: [UInt8] = []
        while told.count < 64, let chunk = try await refused.read() { told += chunk }
        #expect(String(decoding: told, as: UTF8.self) == "full\n")
        await refused.close()

        await folder.foldNow(on: server)
        #expect(try metrics.expectCounter("eddy_connections_accepted_total").totalValue == 1)
        #expect(try metrics.expectCounter("eddy_connections_refused_total", [("status", "503")]).totalValue == 1)
        #expect(try metrics.expectMeter("eddy_connections_open").lastValue == 1)

        await held.close()
        for _ in 0..<500 where listener.openCount > 0 { try await client.sleep(for: .milliseconds(10)) }
        await folder.foldNow(on: server)
        #expect(try metrics.expectCounter("eddy_connections_closed_total").totalValue == 1)
        #expect(try metrics.expectMeter("eddy_connections_open").lastValue == 0)

        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        _ = await server.shutdown()
        _ = await client.shutdown()
    }
}
