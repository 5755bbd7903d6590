import EddyDAG
import EddyLoop
import EddyNet
import EddyTestSupport
import EddyWebSocket
import Foundation
import EddyShared
import Testing

/// SIGTERM to `eddy demo` while a dashboard watches: the service group drains in its
/// documented order (stop accepting, streams closed with 1001, event log flushed, exit 0),
/// each step a log line at `--log-level info`, and the run's events are on disk. The last
/// scrape of `/metrics` before the signal shows what the dashboard did.
@Suite("eddy demo: graceful shutdown on SIGTERM", .timeLimit(.minutes(2)))
struct GracefulShutdownTests {
    @Test func sigtermDrainsInOrderClosesStreamsWith1001AndFlushesTheLog() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let stderrPath = log.directory.appendingPathComponent("stderr.log").path
        #expect(FileManager.default.createFile(atPath: stderrPath, contents: nil))
        let stderr = try #require(FileHandle(forWritingAtPath: stderrPath))
        let (demo, port, output) = try await startListeningProcess(
            eddyBinary, ["demo", "--port", "0", "--db", log.path, "--gate-timeout", "600", "--log-level", "info"],
            environment: DemoProcess.tokens, standardError: stderr)
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        try stderr.close()

        // A dashboard (operator) follows the newest run, approves its gate and sees it complete.
        let loop = try EventLoop()
        let runID = try #require(try await DemoCommandTests.newestRun(port: port, loop: loop))
        var configuration = WebSocketClientConfiguration()
        configuration.headers.add(name: "Authorization", value: "Bearer op")
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream",
                                                 configuration: configuration, on: loop)
        let completed = Mutex(false)
        let dashboard = Task(executorPreference: loop) { () -> WebSocketCloseCode? in
            var approved = false
            do {
                for try await message in socket.messages {
                    guard case .text(let text) = message else { continue }
                    let waiting = text.contains(#""type":"human_gate_waiting""#)
                        || (text.contains(#""type":"snapshot""#) && text.contains(#""status":"waiting_human""#))
                    if waiting && !approved {
                        approved = true
                        try await socket.send(text: #"{"v":1,"type":"human_decision","command_id":"t-1","node_id":"review","decision":"approve"}"#)
                    }
                    if text.contains(#""type":"execution_complete""#) { completed.withLock { $0 = true } }
                }
            } catch let error as WebSocketClosedError {
                return error.status.code
            } catch {}
            return socket.closeStatus?.code
        }
        for _ in 0..<600 where !completed.withLock({ $0 }) { try await loop.sleep(for: .milliseconds(20)) }
        #expect(completed.withLock { $0 }, "the dashboard never saw the run complete")

        // The final metric values, scraped (Python urllib + prometheus_client) just before the
        // signal: the run the dashboard approved finished, its command was accepted, the
        // dashboard is still connected.
        let series = ["eddy_runs_finished_total:outcome=completed", "eddy_commands_total:status=accepted",
                      "eddy_connections_open", "eddy_websocket_messages_received_total"]
        let (scraped, scrapeOutput) = try await runPythonPeer("metrics_scrape.py", ["totals", String(port), "op"] + series)
        #expect(scraped == 0, "\(scrapeOutput)")
        var values: [String: Double] = [:]
        for line in scrapeOutput.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, series.contains(String(parts[0])), let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        #expect((values["eddy_runs_finished_total:outcome=completed"] ?? 0) >= 1, "\(scrapeOutput)")
        #expect((values["eddy_commands_total:status=accepted"] ?? 0) >= 1, "\(scrapeOutput)")
        #expect((values["eddy_connections_open"] ?? 0) >= 1, "\(scrapeOutput)")
        #expect((values["eddy_websocket_messages_received_total"] ?? 0) >= 1, "\(scrapeOutput)")

        // SIGTERM while the dashboard is still connected.
        demo.terminate()
        for _ in 0..<150 where demo.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!demo.isRunning, "eddy demo did not exit within 15 s of SIGTERM")
        if demo.isRunning { kill(demo.processIdentifier, SIGKILL) }
        demo.waitUntilExit()
        withExtendedLifetime(output) {}
        #expect(demo.terminationReason == .exit)
        #expect(demo.terminationStatus == 0)
        #expect(await dashboard.value == .goingAway)
        #expect(await loop.shutdown().isClean)

        // The drain, in order, from the log lines.
        let lines = (try String(contentsOfFile: stderrPath, encoding: .utf8)).split(separator: "\n").map(String.init)
        let steps = ["shutdown: requested", "shutdown: stopped accepting connections", "streams closed with 1001",
                     "shutdown: connections ended", "shutdown: event log flushed and closed", "shutdown: complete, exiting"]
        let positions = steps.map { step in lines.firstIndex { $0.contains(step) } }
        let allLogged = positions.allSatisfy { $0 != nil }
        #expect(allLogged, "missing drain steps in:\n\(lines.joined(separator: "\n"))")
        let found = positions.compactMap { $0 }
        let inOrder = zip(found, found.dropFirst()).allSatisfy { $0 < $1 }
        #expect(inOrder, "drain steps out of order:\n\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("run started") && $0.contains(runID) })

        // The event log on disk has the run, through its end.
        let events = try SQLiteEventLog(configuration: EventLogConfiguration(path: log.path), now: { 0 })
        let logged = try events.events(runID: runID, after: 0)
        await events.close()
        let types = logged.map(\.event.typeName)
        #expect(types.contains("human_gate_waiting"))
        #expect(types.last == "execution_complete")
    }
}
