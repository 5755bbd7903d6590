import EddyTestSupport
import Foundation
import Testing

/// A real browser (headless Chromium from Debian) against the dashboard page of
/// `eddy serve --dag`: the page follows the lobby to the run, applies its snapshot and
/// deltas, renders the node states and the waiting gate with its buttons; a click on
/// Approve (operator token) completes the gate and the run.
@Suite("Headless Chromium against the DAG dashboard", .timeLimit(.minutes(2)))
struct DashboardBrowserTests {
    @Test func chromiumRendersTheLiveRunAndItsWaitingGate() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        // Real time over the DevTools protocol: the page is read until it shows the run live
        // with its waiting gate (bounded), then checked in detail.
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?token=view", "30", #"<p id="status">live</p>"#,
            #"<td class="s-waiting_human">waiting_human</td>"#, #"<p><b>review</b>: Ship it?"#,
        ])
        #expect(status == 0)
        #expect(dom.contains(#"<p id="status">live</p>"#), "\(dom.suffix(1500))")
        #expect(dom.contains(#"<p id="runs">runs: run-"#) && dom.contains("(running)"), "\(dom.suffix(1500))")
        #expect(dom.contains("· running · seq"), "\(dom.suffix(1500))")
        for node in ["plan", "draft", "flaky", "join"] {
            #expect(dom.contains(#"<tr><td>\#(node)</td><td class="s-completed">completed</td>"#), "\(node): \(dom.suffix(1500))")
        }
        #expect(dom.contains(#"<tr><td>review</td><td class="s-waiting_human">waiting_human</td>"#), "\(dom.suffix(1500))")
        #expect(dom.contains(#"<p><b>review</b>: Ship it? <button"#) && dom.contains(">Approve</button>"), "\(dom.suffix(1500))")
        #expect(dom.contains(#""draft text""#), "outputs are rendered: \(dom.suffix(1500))")

        // An operator approves in the browser: the gate completes, then the run.
        let (approved, after) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?token=op", "30", #"<p><b>review</b>: Ship it?"#,
            "--click", "#gates button", #"<tr><td>review</td><td class="s-completed">completed</td>"#,
            #"<tr><td>ship</td><td class="s-completed">completed</td>"#, "· completed · seq",
        ])
        #expect(approved == 0, "\(after.suffix(1500))")
        #expect(!after.contains("<p><b>review</b>"), "the gate left the page: \(after.suffix(1500))")

        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
    }
}
