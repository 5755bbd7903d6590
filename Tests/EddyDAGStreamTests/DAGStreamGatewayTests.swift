@testable import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import EddyTestSupport
import Foundation
import EddyShared
import Testing

@Suite("DAG stream gateway", .timeLimit(.minutes(2)))
struct DAGStreamGatewayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A DAG that stays running: its first node is a gate nobody answers.
    static func heldOpen() throws -> DAGDefinition {
        var builder = DAGBuilder()
        builder.gate("wait", presentation: ["title": "never answered"])
        builder.task("after", after: ["wait"]) { _ in .null }
        return try builder.build()
    }

    @Test func dashboardSeesSnapshotDeltasCommandsAndResync() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.task("plan") { _ in .string("outline") }
        builder.gate("review", after: ["plan"], presentation: ["question": "Publish?"])
        builder.task("publish", after: ["review"]) { _ in .string("done") }
        let runID = try await engine.start(try builder.build(), runID: "run-1")

        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op-secret"]
        configuration.viewerTokens = ["view-secret"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let (group, port) = (server.group, server.port)

        // The runs listing.
        let listing = try await httpGet("/api/dags?token=view-secret", port: port, loop: group.loops[0])
        #expect(listing.contains("\"dag_id\":\"run-1\""), "\(listing)")
        let anonymous = try await httpGet("/api/dags", port: port, loop: group.loops[0])
        #expect(anonymous.hasPrefix("HTTP/1.1 401"), "\(anonymous)")
        // A valid token followed by 256 (or 512) NUL bytes is another token, not the same one.
        for padding in [256, 512, 1] {
            let padded = try await httpGet("/api/dags?token=view-secret" + String(repeating: "%00", count: padding), port: port, loop: group.loops[0])
            #expect(padded.hasPrefix("HTTP/1.1 401"), "\(padding) NUL bytes: \(padded.prefix(40))")
        }

        let (status, output) = try await Self.python(["dag_dashboard_client.py", "ws://127.0.0.1:\(port)", runID, "op-secret", "view-secret"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 checks failed"), "\(output)")
        #expect(await engine.waitForCompletion(runID: runID) == .completed)

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func closeAllEndsEveryStreamWith1001() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        let runID = try await engine.start(Self.heldOpen(), runID: "run-open")
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        configuration.heartbeatInterval = .milliseconds(50)
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let (gateway, group) = (server.gateway, server.group)

        let loop = group.loops[1]
        var sockets: [WebSocket] = []
        for _ in 0..<3 {
            sockets.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/api/dags/\(runID)/stream?token=v", on: loop))
        }
        let heartbeats = HeartbeatCount()
        let readers = sockets.map { socket in
            Task(executorPreference: loop) { () -> WebSocketCloseCode? in
                do {
                    for try await message in socket.messages {
                        if case .text(let text) = message, text.contains(#""type":"heartbeat""#) { heartbeats.add() }
                    }
                } catch let error as WebSocketClosedError { return error.status.code } catch {}
                return socket.closeStatus?.code
            }
        }
        // Every stream gets heartbeats (browsers cannot ping).
        for _ in 0..<300 where heartbeats.value < 6 { try await loop.sleep(for: .milliseconds(10)) }
        #expect(heartbeats.value >= 6)
        for _ in 0..<200 where gateway.openStreams < 3 { try await loop.sleep(for: .milliseconds(10)) }
        #expect(gateway.openStreams == 3)
        await gateway.closeAll()
        for reader in readers { #expect(await reader.value == .goingAway) }
        // Each stream's handler deregisters as it returns, just after its close completes.
        for _ in 0..<200 where gateway.openStreams > 0 { try await loop.sleep(for: .milliseconds(10)) }
        #expect(gateway.openStreams == 0)

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func aRunIsOneRoomFedByOneSubscriptionHoweverManyDashboardsOnHoweverManyLoops() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        let runID = try await engine.start(Self.heldOpen(), runID: "run-shared")
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let (gateway, group) = (server.gateway, server.group)
        // The engine's own subscribers (none yet: the gateway subscribes at the first dashboard).
        let before = engine.hub.subscriberCount(runID: runID)

        // Six dashboards from both client loops land on both server loops, plus two lobbies.
        var sockets: [WebSocket] = []
        for index in 0..<6 {
            sockets.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/api/dags/\(runID)/stream?token=v", on: group.loops[index % 2]))
        }
        for index in 0..<2 {
            sockets.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(server.port)/api/dags/stream?token=v", on: group.loops[index % 2]))
        }
        let readers = sockets.map { socket in
            Task(executorPreference: socket.eventLoop) { () -> String? in
                var first: String?
                for try await message in socket.messages where first == nil {
                    if case .text(let text) = message { first = text }
                }
                return first
            }
        }
        for _ in 0..<500 where gateway.joinedStreams < 6 || gateway.openStreams < 8 { try await group.loops[0].sleep(for: .milliseconds(10)) }
        #expect(gateway.joinedStreams == 6 && gateway.openStreams == 8)
        #expect(gateway.feedCount == 2) // the run's and the lobby's
        #expect(engine.hub.subscriberCount(runID: runID) == before + 1)

        for socket in sockets { await socket.close() }
        for reader in readers { _ = try? await reader.value }
        for _ in 0..<500 where gateway.feedCount > 0 || engine.hub.subscriberCount(runID: runID) > before {
            try await group.loops[0].sleep(for: .milliseconds(10))
        }
        // The last one out stops the feed and its subscription.
        #expect(gateway.feedCount == 0)
        #expect(engine.hub.subscriberCount(runID: runID) == before)

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func replacedTokensAdmitNewStreamsWhileOpenOnesKeepTheirRole() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        let runID = try await engine.start(Self.heldOpen(), runID: "run-rotate")
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op-old"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let (gateway, loop) = (server.gateway, server.group.loops[0])
        let url = "ws://127.0.0.1:\(server.port)/api/dags/\(runID)/stream"
        let open = try await WebSocket.connect(to: url + "?token=op-old", on: loop)

        gateway.replaceTokens(operatorTokens: ["op-new"], viewerTokens: ["view-new"])
        #expect(gateway.tokenCounts == (1, 1))
        #expect(try await httpGet("/api/dags?token=op-old", port: server.port, loop: loop).hasPrefix("HTTP/1.1 401"))
        #expect(try await httpGet("/api/dags?token=view-new", port: server.port, loop: loop).hasPrefix("HTTP/1.1 200"))
        await #expect(throws: (any Error).self) { _ = try await WebSocket.connect(to: url + "?token=op-old", on: loop) }

        // The stream opened with the old token is still an operator's: its command is applied.
        try await open.send(.text(#"{"v":1,"type":"human_decision","command_id":"c1","node_id":"wait","decision":"approve"}"#))
        var reply = ""
        for try await message in open.messages {
            if case .text(let text) = message, text.contains("command_result") {
                reply = text
                break
            }
        }
        #expect(reply.contains(#""status":"accepted""#), "\(reply)")
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        await open.close()

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func aThousandDashboardsConvergeToTheSameFinalState() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.gate("go", presentation: ["title": "start when everyone watches"])
        for i in 0..<20 { builder.task("work-\(i)", after: ["go"]) { _ in .int(Int64(i)) } }
        builder.task("join", after: (0..<20).map { "work-\($0)" }) { _ in .string("done") }
        let runID = try await engine.start(try builder.build(), runID: "run-crowd")
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration, backlog: 2048)
        let gateway = server.gateway

        let url = "ws://127.0.0.1:\(server.port)/api/dags/\(runID)/stream"
        let watching = Task { try await Self.python(["dag_many_dashboards.py", url, "v", "1000"]) }
        // Joined, not just open: a stream that joins after the run ends gets the final snapshot only.
        for _ in 0..<6_000 where gateway.joinedStreams < 1000 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(gateway.joinedStreams == 1000)
        let result = await engine.submit(ClientCommand(commandID: "go", action: .humanDecision(.init(nodeID: "go", decision: .approve))), runID: runID)
        #expect(result.status == .accepted)
        let (status, output) = try await watching.value
        #expect(status == 0, "\(output.suffix(400))")
        let finalSeq = try engine.state(runID: runID).seq
        #expect(output.contains("OK 1000 \(finalSeq)"), "\(output.suffix(400))")

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func aDashboardThatFallsBehindIsCaughtUpWithASnapshotNotClosed() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.gate("go", presentation: ["title": "start once the dashboard stalls"])
        let width = 2_000
        for i in 0..<width { builder.task("work-\(i)", after: ["go"]) { _ in .string(String(repeating: "x", count: 64)) } }
        let runID = try await engine.start(try builder.build(), runID: "run-slow")
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        configuration.outboxLimits = OutboxLimits(maxBytes: 16 * 1024, maxMessages: 100)
        // A dashboard that reads nothing answers no ping either: on a loaded machine the run
        // outlasted ping + pong timeout (40 s) and the server rightly dropped it, which is
        // not what this test is about (the pong timeout has tests of its own).
        configuration.keepAlive = .disabled
        var tcp = TCPConfiguration()
        tcp.sendBufferSize = 16 * 1024 // keep the backlog in the outbox, not in the kernel
        let server = try await GatewayServer.start(engine, configuration: configuration, tcp: tcp)

        let watching = Task { try await Self.python(["dag_slow_dashboard.py", "ws://127.0.0.1:\(server.port)", runID, "v"]) }
        for _ in 0..<1_000 where server.gateway.joinedStreams < 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.gateway.joinedStreams == 1)
        try await Task.sleep(for: .milliseconds(300)) // the dashboard has its snapshot and stops reading
        let go = await engine.submit(ClientCommand(commandID: "go", action: .humanDecision(.init(nodeID: "go", decision: .approve))), runID: runID)
        #expect(go.status == .accepted)
        // The engine finishes at its own pace, whatever the dashboard does.
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        let (status, output) = try await watching.value
        #expect(status == 0, "\(output.suffix(600))")
        let finalSeq = try engine.state(runID: runID).seq
        let fields = output.split(separator: "\n").last { $0.hasPrefix("OK ") }?.split(separator: " ") ?? []
        #expect(fields.count == 5, "\(output.suffix(600))")
        if fields.count == 5 {
            #expect(Int(fields[1]) ?? 0 >= 2, "a mid-stream snapshot replaced the backlog: \(output)")
            #expect(fields[2] == "\(finalSeq)")
            #expect(fields[3] == "\(width + 1)")
            #expect(fields[4] == "completed")
        }
        #expect(await server.stop())
        await engine.shutdown()
    }

    /// A GET over raw TCP; returns the whole response text.
    static func python(_ arguments: [String]) async throws -> (Int32, String) {
        try await runPythonPeer(arguments[0], Array(arguments.dropFirst()))
    }
}

/// Heartbeats seen across streams.
final class HeartbeatCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
