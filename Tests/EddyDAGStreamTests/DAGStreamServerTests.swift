import EddyTestSupport
import EddyDAG
import EddyDAGServer
import EddyDAGStream
import EddyLoop
import EddyWebSocket
import Foundation
import Testing

/// The DAG stream server as a library, in process: start, serve a run to a dashboard client,
/// shut down from the embedding code (streams close with 1001, the log is flushed, `run`
/// returns).
@Suite("DAGStreamServer: the embedded server", .timeLimit(.minutes(3)))
struct DAGStreamServerTests {
    @Test func servesARunAndTheDashboardThenClosesStreamsWith1001() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        var configuration = DAGStreamServerConfiguration(operatorToken: "op", viewerToken: "view")
        configuration.port = 0
        configuration.databasePath = log.path
        configuration.loopCount = 2
        let server = try await DAGStreamServer(configuration: configuration)
        #expect(server.port > 0)
        #expect(server.dashboardURL(token: "a b") == "http://127.0.0.1:\(server.port)/#token=a%20b")

        var builder = DAGBuilder()
        builder.task("hello") { _ in "world" }
        builder.gate("review", after: ["hello"], presentation: ["title": "Ship it?"])
        builder.task("ship", after: ["review"]) { _ in "shipped" }
        let runID = try await server.engine.start(try builder.build())

        let loop = try EventLoop()
        let page = try await httpGet("/", port: server.port, loop: loop)
        #expect(page.hasPrefix("HTTP/1.1 200") && page.contains("Content-Security-Policy") && page.contains("Eddy DAG dashboard"))
        let listing = try await httpGet("/api/dags?token=view", port: server.port, loop: loop)
        #expect(listing.contains(runID))

        // A dashboard follows the run to its gate; the server then shuts down under it.
        let socket = try await WebSocket.connect(to: server.streamURL(runID: runID) + "?token=view", on: loop)
        let (gateSeen, seen) = AsyncStream<Void>.makeStream()
        let closeCode = Task(executorPreference: loop) { () -> WebSocketCloseCode? in
            defer { seen.finish() }
            var sawGate = false
            do {
                for try await message in socket.messages {
                    guard case .text(let text) = message else { continue }
                    if text.contains(#""type":"human_gate_waiting""#) || text.contains(#""status":"waiting_human""#) {
                        sawGate = true
                        seen.yield()
                    }
                }
            } catch let error as WebSocketClosedError {
                return sawGate ? error.status.code : nil
            } catch {}
            return sawGate ? socket.closeStatus?.code : nil
        }
        var gate = gateSeen.makeAsyncIterator()
        #expect(await gate.next() != nil, "the dashboard never saw the gate")
        // A service that runs the server and stops it on its own terms (no signal).
        let running = Task { try await server.run() }
        try await loop.sleep(for: .milliseconds(100))
        let reports = await server.shutdown()
        #expect(try await running.value == nil)
        #expect(reports.allSatisfy { $0.isClean }, "\(reports)")
        #expect(await closeCode.value == .goingAway)
        #expect(await server.shutdown() == reports) // idempotent

        // The log was flushed: a new engine on it has the run, its first node done.
        let reopened = try log.engine()
        #expect(try reopened.state(runID: runID).node("hello")?.status == .completed)
        await reopened.shutdown()
        #expect(await loop.shutdown().isClean)
    }

    @Test func aPortInUseThrowsAndLeavesNothingOpen() async throws {
        let (first, second) = (try ScratchLog(), try ScratchLog())
        defer { first.remove(); second.remove() }
        var configuration = DAGStreamServerConfiguration(operatorToken: "op", viewerToken: "view")
        configuration.port = 0
        configuration.databasePath = first.path
        configuration.loopCount = 1
        let server = try await DAGStreamServer(configuration: configuration)
        configuration.port = server.port
        configuration.databasePath = second.path
        await #expect(throws: IOError.self) { _ = try await DAGStreamServer(configuration: configuration) }
        // The log the failed server opened (and closed) is usable by another engine.
        let reopened = try second.engine()
        var builder = DAGBuilder()
        builder.task("one") { _ in nil }
        #expect(await reopened.waitForCompletion(runID: try await reopened.start(try builder.build())) == .completed)
        await reopened.shutdown()
        #expect(await server.shutdown().allSatisfy { $0.isClean })
    }
}
