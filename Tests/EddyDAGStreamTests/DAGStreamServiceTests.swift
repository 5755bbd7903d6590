import EddyDAG
import EddyDAGServer
import EddyLoop
import EddyTestSupport
import EddyWebSocket
import Foundation
import Logging
import ServiceLifecycle
import EddyShared
import Testing

/// `DAGStreamServer.services(driver:)` in a `ServiceGroup` with a service of the program's
/// own: a graceful shutdown stops that service first (streams still open), then the streams
/// (1001), then the event log (flushed).
@Suite("DAGStreamServer in a ServiceGroup", .timeLimit(.minutes(3)))
struct DAGStreamServiceTests {
    /// Records, when told to shut down, how many streams the server still had open.
    final class ProgramService: Service {
        let server: DAGStreamServer
        let openStreamsAtStop = Mutex<Int?>(nil)

        init(server: DAGStreamServer) { self.server = server }

        func run() async throws {
            try? await gracefulShutdown() // cancelled or told to stop: record either way
            let open = server.gateway.openStreams
            openStreamsAtStop.withLock { $0 = open }
        }
    }

    @Test func aGracefulShutdownStopsTheProgramsServiceThenTheStreamsThenTheLog() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        var configuration = DAGStreamServerConfiguration(operatorToken: "op", viewerToken: "view")
        configuration.port = 0
        configuration.databasePath = log.path
        configuration.loopCount = 1
        configuration.terminationSignals = []
        let server = try await DAGStreamServer(configuration: configuration)
        var builder = DAGBuilder()
        builder.task("hello") { _ in "world" }
        builder.gate("review", after: ["hello"], presentation: ["title": "Ship it?"])
        builder.task("ship", after: ["review"]) { _ in "shipped" }
        let runID = try await server.engine.start(try builder.build())

        let program = ProgramService(server: server)
        let group = ServiceGroup(services: server.services() + [program], gracefulShutdownSignals: [],
                                 logger: Logger(label: "test"))
        let running = Task { try await group.run() }

        let loop = try EventLoop()
        let socket = try await WebSocket.connect(to: server.streamURL(runID: runID) + "?token=view", on: loop)
        let closeCode = Task(executorPreference: loop) { () -> WebSocketCloseCode? in
            do { for try await _ in socket.messages {} } catch let error as WebSocketClosedError { return error.status.code } catch {}
            return socket.closeStatus?.code
        }
        for _ in 0..<500 where server.gateway.openStreams < 1 { try await loop.sleep(for: .milliseconds(10)) }
        #expect(server.gateway.openStreams == 1)
        for _ in 0..<500 where (try? server.engine.state(runID: runID).node("review")?.status) != .waitingHuman {
            try await loop.sleep(for: .milliseconds(10))
        }

        await group.triggerGracefulShutdown()
        try await running.value
        #expect(program.openStreamsAtStop.withLock { $0 } == 1, "the program's service stopped after the streams")
        #expect(await closeCode.value == .goingAway)
        #expect(server.gateway.openStreams == 0)

        // The log was flushed and closed: a new engine on it has the run, its first node done.
        let reopened = try log.engine()
        #expect(try reopened.state(runID: runID).node("hello")?.status == .completed)
        await reopened.shutdown()
        #expect(await loop.shutdown().isClean)
    }
}
