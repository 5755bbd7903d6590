import EddyTestSupport
import Foundation
import Testing

extension DashboardBrowserTests {
    /// A real browser watching a run while the server is SIGKILLed and restarted on the same log
    /// and port: the connection indicator says it is reconnecting (with the countdown), then
    /// live again and "resynced at seq N", and the run shown is the one the operator picked.
    @Suite("Headless Chromium: the dashboard's connection indicator", .timeLimit(.minutes(3)))
    struct DashboardConnectionTests {
        /// Waits (bounded: 60 s) until the page driver created `file`.
        static func waitFor(_ file: URL) async throws {
            for _ in 0..<600 where !FileManager.default.fileExists(atPath: file.path) {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(FileManager.default.fileExists(atPath: file.path), "the page never reached \(file.lastPathComponent)")
        }

        @Test func theIndicatorShowsReconnectingThenResyncedAtSeq() async throws {
            let log = try ScratchLog()
            defer { log.remove() }
            let dag = ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path]
            let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: dag)
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
            let live = log.directory.appendingPathComponent("page-live")
            let reconnecting = log.directory.appendingPathComponent("page-reconnecting")

            // The page: live at the gate (the run picked in the list, so a new run does not take
            // over), then reconnecting while the server is down, then live and resynced.
            async let page = runPythonPeer("chromium_dom.py", [
                "http://127.0.0.1:\(port)/#token=view", "90", #"<p id="status">live</p>"#, "<title>review: waiting_human</title>",
                "--click", "#runs li button", #"<li class="shown">"#, "--eval", DashboardTimeTravelTests.runID, "--signal", live.path,
                "--do", "undefined", #"<p id="status">reconnecting in "#, "--signal", reconnecting.path,
                "--screenshot", try DashboardBrowserTests.screenshot("reconnecting"),
                "--do", "undefined", #"<p id="status">live</p>"#, #"<p id="resync">resynced at seq "#,
                "--screenshot", try DashboardBrowserTests.screenshot("resynced"),
                "--eval", DashboardTimeTravelTests.runID,
                "--eval", ##"document.querySelector("#resync").textContent"##,
            ])
            try await Self.waitFor(live)
            kill(server.processIdentifier, SIGKILL)
            for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            try await Self.waitFor(reconnecting)
            let (restarted, _) = try await DemoProcess.start(db: log.path, port: port, command: "serve", arguments: dag)
            defer { if restarted.isRunning { kill(restarted.processIdentifier, SIGKILL) } }

            let (status, dom) = try await page
            let tail = String(dom.suffix(3000))
            #expect(status == 0, "\(tail)")
            #expect(DashboardBrowserTests.evaluation(1, in: dom) == DashboardBrowserTests.evaluation(2, in: dom), "another run is shown: \(tail)")
            #expect(DashboardBrowserTests.evaluation(3, in: dom)?.hasPrefix(#""resynced at seq "#) == true, "\(tail)")

            restarted.terminate()
            for _ in 0..<100 where restarted.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!restarted.isRunning)
        }
    }
}
