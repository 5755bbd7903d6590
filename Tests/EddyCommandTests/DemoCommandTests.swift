import EddyTestSupport
import EddyLoop
import EddyNet
import EddyWebSocket
import Foundation
import Testing

/// `eddy demo` end to end: the built binary runs the demo workflow against a real SQLite
/// file; a dashboard (Eddy's WebSocket client) follows the run, approves the gate, sees
/// the run complete, and the demo starts the next run.
@Suite("eddy demo: the DAG stream server", .timeLimit(.minutes(2)))
struct DemoCommandTests {
    @Test func aDashboardApprovesTheGateAndTheNextRunStarts() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (demo, port) = try await DemoProcess.start(db: log.path)
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }

        let loop = try EventLoop()
        let runID = try #require(try await Self.newestRun(port: port, loop: loop))
        var configuration = WebSocketClientConfiguration()
        configuration.headers.add(name: "Authorization", value: "Bearer op")
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", configuration: configuration, on: loop)
        let sawCompletion = try await Task(executorPreference: loop) { () -> Bool in
            var approved = false
            for try await message in socket.messages {
                guard case .text(let text) = message else { continue }
                let waiting = text.contains(#""type":"human_gate_waiting""#)
                    || (text.contains(#""type":"snapshot""#) && text.contains(#""status":"waiting_human""#))
                if waiting && !approved {
                    approved = true
                    try await socket.send(text: #"{"v":1,"type":"human_decision","command_id":"t-1","node_id":"review","decision":"approve"}"#)
                }
                if text.contains(#""type":"execution_complete""#) { return approved }
            }
            return false
        }.value
        #expect(sawCompletion)
        await socket.close()
        // The demo starts the next run by itself.
        var runs = 0
        for _ in 0..<100 where runs < 2 {
            try await loop.sleep(for: .milliseconds(100))
            runs = try await Self.listing(port: port, loop: loop).components(separatedBy: "\"dag_id\"").count - 1
        }
        #expect(runs >= 2)
        // A dashboard still watching when the server stops gets 1001 (going away).
        let watcher = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream?token=view", on: loop)
        let closeCode = Task(executorPreference: loop) { () -> WebSocketCloseCode? in
            do { for try await _ in watcher.messages {} } catch let error as WebSocketClosedError { return error.status.code } catch {}
            return watcher.closeStatus?.code
        }
        try await loop.sleep(for: .milliseconds(100))
        demo.terminate() // SIGTERM: an orderly shutdown must follow, bounded here
        for _ in 0..<100 where demo.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!demo.isRunning, "eddy demo did not exit within 10 s of SIGTERM")
        if demo.isRunning { kill(demo.processIdentifier, SIGKILL) }
        demo.waitUntilExit()
        #expect(demo.terminationStatus == 0)
        #expect(await closeCode.value == .goingAway)
        #expect(await loop.shutdown().isClean)
    }

    /// The runs listing, with the viewer token.
    static func listing(port: Int, loop: EventLoop) async throws -> String {
        try await httpGet("/api/dags?token=view", port: port, loop: loop)
    }

    /// The newest run's id (waits, bounded, for the demo to start one).
    static func newestRun(port: Int, loop: EventLoop) async throws -> String? {
        for _ in 0..<100 {
            let text = try await listing(port: port, loop: loop)
            if let range = text.range(of: #""dag_id":""#, options: .backwards) {
                return String(text[range.upperBound...].prefix { $0 != "\"" })
            }
            try await loop.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
