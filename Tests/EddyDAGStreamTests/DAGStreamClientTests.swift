import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import Foundation
import Testing

@Suite("DAGStreamClient", .timeLimit(.minutes(1)))
struct DAGStreamClientTests {
    /// A gateway server for `engine` on `port` (0: any); returns what stops it.
    static func serve(_ engine: DAGEngine, port: Int) async throws -> (Int, @Sendable () async -> Void) {
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op"]
        let gateway = DAGStreamGateway(engine: engine, configuration: configuration)
        var router = HTTPRouter<WebSocketRoute>()
        try gateway.install(into: &router)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: port, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return (listener.localAddress.port, {
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            await group.shutdown()
        })
    }

    @Test func survivesAServerRestartAndConvergesToTheServersState() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try DAGEngine(configuration: .init(eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path)))
        var builder = DAGBuilder()
        builder.task("plan") { _ in .string("outline") }
        builder.gate("review", after: ["plan"], presentation: ["title": "Publish?"])
        builder.task("publish", after: ["review"]) { _ in .string("done") }
        let runID = try await engine.start(try builder.build(), runID: "run-client")

        let (port, stopFirst) = try await Self.serve(engine, port: 0)
        let loop = try EventLoop()
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(20)
        backoff.cap = .milliseconds(200)
        let client = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "op", on: loop, backoff: backoff)
        let running = Task(executorPreference: loop) { await client.run() }

        // Wait (bounded) for the gate, then restart the server under the client.
        for _ in 0..<500 where client.state?.node("review")?.status != .waitingHuman { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state?.node("review")?.status == .waitingHuman)
        await stopFirst()
        let (_, stopSecond) = try await Self.serve(engine, port: port) // same port: the client finds it again
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
        await stopSecond()
        #expect(await loop.shutdown().isClean)
        await engine.shutdown()
    }
}
