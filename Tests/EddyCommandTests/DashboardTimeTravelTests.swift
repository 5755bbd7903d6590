import EddyTestSupport
import Foundation
import Testing

extension DashboardBrowserTests {
    /// A real browser against the dashboard's time travel: the scrubber shows the run as it was
    /// at an earlier seq (graph, node table, costs, gates, no controls on the past), nodes keep
    /// their places in the graph, "live" returns to the head, the page fits a narrow window, and
    /// a finished run is browsable from the log after the server restarted.
    /// Screenshots: `.build/test-output/dashboard/` (see `DashboardBrowserTests.screenshot`).
    @Suite("Headless Chromium: the dashboard's time travel", .timeLimit(.minutes(3)))
    struct DashboardTimeTravelTests {
        /// Moves the scrubber as a user would (an `input` event) to the seq of the first logged
        /// event `matching` (a JS predicate), read with the page's own token; the seq.
        static func scrub(to matching: String) -> String {
            """
            (async () => {
              const id = document.querySelector("#run").textContent.split(" ")[1];
              const token = sessionStorage.getItem("eddy.dashboard.token");
              const response = await fetch(`/api/dags/${encodeURIComponent(id)}/events?limit=10000`, { headers: { Authorization: "Bearer " + token } });
              const event = (await response.json()).events.find(\(matching));
              const scrubber = document.querySelector("#scrubber");
              scrubber.value = String(event.seq);
              scrubber.dispatchEvent(new Event("input"));
              return event.seq;
            })()
            """
        }

        static let gateWaits = #"(e) => e.type === "human_gate_waiting""#
        /// Each node's place in the graph, `id@transform`.
        static let places = ##"[...document.querySelectorAll("#graph g.node")].map((g) => g.querySelector("title").textContent.split(":")[0] + "@" + g.getAttribute("transform"))"##
        static let runID = ##"document.querySelector("#run").textContent.split(" ")[1]"##

        @Test func theScrubberShowsEarlierStatesEvenAfterARestart() async throws {
            let log = try ScratchLog()
            defer { log.remove() }
            let dag = ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path]
            let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: dag)
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

            let (status, dom) = try await runPythonPeer("chromium_dom.py", [
                "http://127.0.0.1:\(port)/#token=op", "40", #"<p id="role">operator</p>"#, "<title>review: waiting_human</title>",
                "--eval", Self.places,
                "--click", "#gates button", "<title>ship: completed</title>", "· completed · seq",
                "--eval", Self.runID,
                // Back to the gate's moment: review waits, ship has not run, nothing to click.
                "--do", Self.scrub(to: Self.gateWaits), "history · seq",
                #"<tr><td>review</td><td class="s-waiting_human">waiting_human</td>"#,
                #"<tr><td>ship</td><td class="s-pending">pending</td>"#, "<title>ship: pending</title>",
                "<p><b>review</b>: Ship it?</p>", #"<div id="controls"></div>"#,
                "--screenshot", try DashboardBrowserTests.screenshot("history-at-gate"),
                "--eval", Self.places,
                "--click", "#live", "<title>ship: completed</title>", "· completed · seq", #"<div id="gates"></div>"#,
                // A narrow window: the page does not overflow sideways (the graph scrolls in its frame).
                "--viewport", "360x740", "· completed · seq",
                "--eval", "document.documentElement.scrollWidth <= innerWidth",
                "--screenshot", try DashboardBrowserTests.screenshot("narrow"),
            ])
            let tail = String(dom.suffix(3000))
            #expect(status == 0, "\(tail)")
            let before = DashboardBrowserTests.evaluation(1, in: dom)
            #expect(before?.contains("ship@") == true, "\(tail)")
            #expect(DashboardBrowserTests.evaluation(3, in: dom) == before, "nodes moved between the live view and the past: \(tail)")
            #expect(DashboardBrowserTests.evaluation(4, in: dom) == "true", "the page overflows a narrow window: \(tail)")
            let finished = try #require(DashboardBrowserTests.evaluation(2, in: dom)?.dropFirst().dropLast()).description

            // A new server on the same log (it starts a new run): the finished run is still there
            // to pick from the runs list and to scrub through, from the log.
            server.terminate()
            for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            let (restarted, newPort) = try await DemoProcess.start(db: log.path, command: "serve", arguments: dag)
            defer { if restarted.isRunning { kill(restarted.processIdentifier, SIGKILL) } }
            let (again, after) = try await runPythonPeer("chromium_dom.py", [
                "http://127.0.0.1:\(newPort)/#token=view", "40", #"<p id="status">live</p>"#, "\(finished) (completed)</button>",
                "--click", "#runs li button", "run \(finished) · completed · seq", "<title>ship: completed</title>",
                #"<p id="cost-text">spent 0.250 of 10.000</p>"#,
                "--do", Self.scrub(to: Self.gateWaits), "history · seq", "<title>review: waiting_human</title>",
                #"<tr><td>ship</td><td class="s-pending">pending</td>"#, "<p><b>review</b>: Ship it?</p>",
                // The first event: only `plan`, nothing spent yet.
                "--do", Self.scrub(to: "(e) => e.seq === 1"), "run \(finished) · running · seq 1",
                #"<p id="cost-text">spent 0.000 "#, "<title>plan: pending</title>",
                "--screenshot", try DashboardBrowserTests.screenshot("history-after-restart"),
                "--eval", ##"document.querySelectorAll("#graph g.node").length"##,
            ])
            #expect(again == 0, "\(after.suffix(3000))")
            #expect(DashboardBrowserTests.evaluation(1, in: after) == "1", "\(after.suffix(3000))")

            restarted.terminate()
            for _ in 0..<100 where restarted.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!restarted.isRunning)
        }

        /// The same run as the browser rebuilds it and as the server does (`/history?at=`):
        /// what the page shows at each scrubbed seq of a 10,000-event run. `check` runs in the
        /// page: for each seq it moves the scrubber, waits (at most 5 s) until the page shows it,
        /// and compares the node table with the server's snapshot at that seq, formatted as
        /// the table formats it; it returns the mismatches and the head.
        static let check = ##"""
            (async () => {
              const id = document.querySelector("#run").textContent.split(" ")[1];
              const headers = { Authorization: "Bearer " + sessionStorage.getItem("eddy.dashboard.token") };
              const head = Number(document.querySelector("#scrubber").max);
              const mismatches = [];
              for (const seq of [1, 2, 249, 250, 251, 2500, 5003, 7777, head - 3, head - 1]) {
                const scrubber = document.querySelector("#scrubber");
                scrubber.value = String(seq);
                scrubber.dispatchEvent(new Event("input"));
                for (let i = 0; i < 50 && !document.querySelector("#at").textContent.startsWith(`history · seq ${seq} of`); i++) {
                  await new Promise((r) => setTimeout(r, 100));
                }
                const shown = [...document.querySelectorAll("#nodes tr")].map((row) => [...row.cells].map((cell) => cell.textContent));
                const snapshot = await (await fetch(`/api/dags/${encodeURIComponent(id)}/history?at=${seq}`, { headers })).json();
                const expected = snapshot.nodes.map((n) => [n.label ?? n.id, n.status, n.output === undefined ? "" : JSON.stringify(n.output).slice(0, 80)]);
                if (JSON.stringify(shown) !== JSON.stringify(expected)) mismatches.push({ seq, shown, expected });
              }
              return [head >= 10000, mismatches];
            })()
            """##

        @Test func scrubbingA10000EventRunShowsWhatTheServerRebuildsAtEachSeq() async throws {
            let log = try ScratchLog()
            defer { log.remove() }
            let dag = log.directory.appendingPathComponent("long.json")
            let nodes: [[String: Any]] = [
                ["id": "tick", "handler": "ticker", "params": ["rate": 5000, "seconds": 2]],
                ["id": "review", "depends_on": ["tick"], "gate": ["presentation": ["title": "Enough ticks?"]]],
                ["id": "after", "depends_on": ["review"], "handler": "collect"],
            ]
            try JSONSerialization.data(withJSONObject: ["nodes": nodes]).write(to: dag)
            let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: ["--dag", dag.path])
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

            let (status, dom) = try await runPythonPeer("chromium_dom.py", [
                "http://127.0.0.1:\(port)/#token=view", "90", #"<p id="status">live</p>"#, "<title>review: waiting_human</title>",
                "--eval", Self.check,
                "--screenshot", try DashboardBrowserTests.screenshot("history-10000-events"),
            ])
            let tail = String(dom.suffix(3000))
            #expect(status == 0, "\(tail)")
            #expect(DashboardBrowserTests.evaluation(1, in: dom) == "[true, []]", "\(tail)")

            server.terminate()
            for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!server.isRunning)
        }
    }
}
