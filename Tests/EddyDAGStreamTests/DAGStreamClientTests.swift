import EddyTestSupport
import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import Foundation
import Testing

@Suite("DAGStreamClient", .timeLimit(.minutes(3)))
struct DAGStreamClientTests {
    static var operatorOnly: DAGStreamConfiguration {
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op"]
        return configuration
    }

    @Test func survivesAServerRestartAndConvergesToTheServersState() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.task("plan") { _ in .string("outline") }
        builder.gate("review", after: ["plan"], presentation: ["title": "Publish?"])
        builder.task("publish", after: ["review"]) { _ in .string("done") }
        let runID = try await engine.start(try builder.build(), runID: "run-client")

        let first = try await GatewayServer.start(engine, configuration: Self.operatorOnly, loops: 1)
        let port = first.port
        let loop = try EventLoop()
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(20)
        backoff.cap = .milliseconds(200)
        let client = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "op", on: loop, backoff: backoff)
        let running = Task(executorPreference: loop) { await client.run() }

        // Wait (bounded) for the gate, then restart the server under the client.
        for _ in 0..<500 where client.state?.node("review")?.status != .waitingHuman { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state?.node("review")?.status == .waitingHuman)
        #expect(await first.stop())
        let second = try await GatewayServer.start(engine, configuration: Self.operatorOnly, loops: 1, port: port) // same port
        for _ in 0..<500 where client.connectionCount < 2 { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.connectionCount >= 2)

        // Commands through the reconnected client.
        var result: CommandResult?
        for _ in 0..<100 where result == nil {
            result = try? await client.send(ClientCommand(commandID: "c-1", action: .humanDecision(.init(nodeID: "review", decision: .approve))))
            if result == nil { try await loop.sleep(for: .milliseconds(20)) }
        }
        #expect(result?.status == .accepted)
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        let serverState = try engine.state(runID: runID)
        for _ in 0..<500 where client.state != serverState { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state == serverState) // converged: same reducer state, same seq

        running.cancel()
        await running.value
        #expect(await second.stop())
        #expect(await loop.shutdown().isClean)
        await engine.shutdown()
    }
}
