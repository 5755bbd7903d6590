import EddyLoop
import EddyNet
import EddyTestSupport
import Foundation
import Testing

/// A real browser (headless Chromium from Debian) against the dashboard page of
/// `eddy serve --dag`: the page follows the lobby to the run, applies its snapshot and
/// deltas, draws the graph and the node table, and shows the waiting gate; a viewer sees it
/// all without controls and a command forged from the viewer's page is refused; an operator
/// approves with a click and the run completes live. Hostile labels, outputs, gate titles and
/// node ids stay text, and the page is served under a CSP that forbids inline script.
/// Screenshots go to `.build/test-output/dashboard/` (see `screenshot(_:)`).
/// Its tests, and those of the nested suites (time travel, connection), run one at a time:
/// each drives a Chromium and an eddy server, and the machine is shared with other tests.
@Suite("Headless Chromium against the DAG dashboard", .serialized, .timeLimit(.minutes(3)))
struct DashboardBrowserTests {
    /// Where the tests' screenshots go: `<package>/.build/test-output/dashboard/<name>.png`
    /// (kept after the run, for a human to look at; git-ignored with the rest of .build).
    static func screenshot(_ name: String) throws -> String {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/test-output/dashboard")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("\(name).png").path
    }

    /// The graph's nodes as `id: status` (their `<title>`), in drawing order.
    static let graphNodes = ##"[...document.querySelectorAll("#graph g.node")].map((g) => g.querySelector("title").textContent)"##

    /// From the page, with the token the page keeps (`sessionStorage`): opens the run's
    /// stream itself and sends `decision` on the gate `review`; the command_result's status
    /// and reason. A forged command: the page shows no control that would send it.
    static let forgedApproval = ##"""
        new Promise((done) => {
          const id = document.querySelector("#run").textContent.split(" ")[1];
          const token = sessionStorage.getItem("eddy.dashboard.token");
          const ws = new WebSocket(`ws://${location.host}/api/dags/${encodeURIComponent(id)}/stream`, ["eddy.dag.v1", "token." + token]);
          setTimeout(() => done("no command_result"), 10000);
          ws.onmessage = (m) => {
            const e = JSON.parse(m.data);
            if (e.type === "snapshot") ws.send(JSON.stringify({ v: 1, type: "human_decision", command_id: "forged-1", node_id: "review", decision: "approve" }));
            if (e.type === "command_result") { ws.close(); done([e.status, e.reason]); }
          };
        })
        """##

    @Test func aViewerWatchesWithoutControlsAndAnOperatorApprovesTheGate() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        // A viewer (token in the query, the form older links use): the live run, its graph
        // and its waiting gate, no controls; a command forged from the page is refused.
        let gateShown = #"<p><b>review</b>: Ship it?"#
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?token=view", "40", #"<p id="status">live</p>"#, #"<p id="role">viewer: read-only</p>"#,
            #"<td class="s-waiting_human">waiting_human</td>"#, gateShown, "<title>review: waiting_human</title>",
            "--screenshot", try Self.screenshot("viewer"),
            "--eval", "location.href",
            "--eval", Self.graphNodes,
            "--eval", ##"document.querySelectorAll("#controls *, #gates button, #gates input").length"##,
            "--eval", Self.forgedApproval,
            // Time for a decision the server took to arrive; the gate still waits.
            "--eval", ##"new Promise((done) => setTimeout(() => done(document.querySelector("#gates").textContent), 1000))"##,
        ])
        let tail = String(dom.suffix(3000))
        #expect(status == 0, "\(tail)")
        #expect(Self.evaluation(1, in: dom) == #""http://127.0.0.1:\#(port)/""#, "the token left the address bar: \(tail)")
        #expect(Self.evaluation(2, in: dom) == #"["plan: completed", "draft: completed", "flaky: completed", "join: completed", "review: waiting_human", "ship: pending"]"#, "\(tail)")
        #expect(Self.evaluation(3, in: dom) == "0", "a viewer sees controls: \(tail)")
        #expect(Self.evaluation(4, in: dom) == #"["rejected", "viewers may not send commands"]"#, "\(tail)")
        #expect(Self.evaluation(5, in: dom)?.hasPrefix(#""review: Ship it?"#) == true, "\(tail)")
        #expect(dom.contains(#"<ul id="runs"><li class="shown"><button type="button">run-"#) && dom.contains(" (running)</button>"), "\(tail)")
        #expect(dom.contains("· running · seq"), "\(tail)")
        for node in ["plan", "draft", "flaky", "join"] {
            #expect(dom.contains(#"<tr><td>\#(node)</td><td class="s-completed">completed</td>"#), "\(node): \(tail)")
        }
        #expect(dom.contains(#"<tr><td>review</td><td class="s-waiting_human">waiting_human</td>"#), "\(tail)")
        #expect(dom.contains(#""draft text""#), "outputs are rendered: \(tail)")
        #expect(dom.contains("<p><b>review</b>: Ship it?</p>"), "the viewer's gate has no buttons: \(tail)")

        // An operator approves in the browser: the gate completes, then the run, live; every
        // edge has fed its node.
        let edges = ##"(() => { const all = [...document.querySelectorAll("#graph path.edge")]; return [all.length, all.every((p) => p.classList.contains("active"))]; })()"##
        let (approved, after) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/#token=op", "40", #"<p id="role">operator</p>"#,
            #"<p><b>review</b>: Ship it? <button type="button">Approve</button> <button type="button">Reject</button>"#,
            #"<div id="controls"><button type="button">Pause</button><button class="danger" type="button">Cancel</button></div>"#,
            "--screenshot", try Self.screenshot("operator-gate"),
            "--click", "#gates button", #"<p id="notice">approve review: accepted</p>"#,
            #"<tr><td>review</td><td class="s-completed">completed</td>"#,
            #"<tr><td>ship</td><td class="s-completed">completed</td>"#, "· completed · seq", "<title>ship: completed</title>",
            #"<div id="controls"></div>"#, #"<div id="gates"></div>"#,
            "--eval", edges,
            // A click on a node in the graph opens its details: attempts, metrics, output.
            "--do", ##"[...document.querySelectorAll("#graph g.node")].find((g) => g.querySelector("title").textContent.startsWith("flaky:")).dispatchEvent(new MouseEvent("click", { bubbles: true }))"##,
            "<h2>flaky</h2>", "<dt>status</dt><dd>completed</dd><dt>attempts</dt><dd>2</dd>", #"<pre class="output">"recovered"</pre>"#,
            "--do", ##"[...document.querySelectorAll("#graph g.node")].find((g) => g.querySelector("title").textContent.startsWith("draft:")).dispatchEvent(new MouseEvent("click", { bubbles: true }))"##,
            "<h2>draft</h2>", "<dt>tokens</dt><dd>300</dd>", #"<pre class="output">"draft text"</pre>"#,
            "--screenshot", try Self.screenshot("operator-completed"),
        ])
        #expect(approved == 0, "\(after.suffix(3000))")
        #expect(Self.evaluation(1, in: after) == "[6, true]", "every edge active: \(after.suffix(3000))")

        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
    }

    /// The operator's other controls: pause and resume, a gate modified with feedback (typed
    /// in the page), and, on the next run (`--repeat`), cancel.
    @Test func anOperatorPausesResumesModifiesWithFeedbackAndCancels() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--repeat", "--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        let modify = ##"(() => { const line = document.querySelector("#gates p"); line.querySelector("input").value = "ship <b>Friday</b>"; line.querySelector("button.modify").click(); })()"##
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/#token=op", "40", #"<p id="role">operator</p>"#, "<title>review: waiting_human</title>",
            // Picked in the runs list, the run stays shown when the next one starts.
            "--click", "#runs li button",
            "--click", "#controls button", #"<p id="notice">pause: accepted</p>"#, "· paused · seq",
            #"<div id="controls"><button type="button">Resume</button>"#,
            "--click", "#controls button", #"<p id="notice">resume: accepted</p>"#, "· running · seq",
            "--do", modify, #"<p id="notice">modify review: accepted</p>"#,
            Self.row("review", "completed", #"{"decision":"modify","feedback":"ship <b>Friday</b>"}"#),
            "· completed · seq", "<title>ship: completed</title>",
            // The next run starts (--repeat): picked in the list, it is shown at its gate.
            "(running)</button></li></ul>", "--eval", ##"document.querySelector("#run").textContent.split(" ")[1]"##,
            "--click", "#runs li:last-child button", "<title>review: waiting_human</title>", "· running · seq",
            "--click", "#controls button.danger", #"<p id="notice">cancel: accepted</p>"#, "· cancelled · seq",
            #"<div id="controls"></div>"#,
            "--eval", ##"document.querySelector("#run").textContent.split(" ")[1]"##,
        ])
        #expect(status == 0, "\(dom.suffix(3000))")
        let first = Self.evaluation(1, in: dom), second = Self.evaluation(2, in: dom)
        #expect(first != nil && second != nil && first != second, "the cancel went to the next run: \(dom.suffix(3000))")

        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
    }

    /// The dashboard over `https://` with its stream over `wss://` (`eddy serve --tls-cert
    /// --tls-key`), Chromium trusting the test server's key by a flag (the SPKI hash).
    @Test func chromiumRendersTheLiveRunOverHTTPSAndWSS() async throws {
        let certificates = try await TestCertificates.shared.value
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path,
                                                        "--tls-cert", certificates.server.certificate, "--tls-key", certificates.server.key])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let spki = try await Self.spkiHash(certificates.server.certificate)
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "--chromium-flag", "--ignore-certificate-errors-spki-list=\(spki)",
            "https://localhost:\(port)/?token=view", "30", #"<p id="status">live</p>"#,
            #"<td class="s-waiting_human">waiting_human</td>"#, #"<p><b>review</b>: Ship it?"#,
            "--eval", "location.protocol",
        ])
        #expect(status == 0, "\(dom.suffix(1500))")
        #expect(dom.contains(#"<tr><td>review</td><td class="s-waiting_human">waiting_human</td>"#), "\(dom.suffix(1500))")
        #expect(Self.evaluation(1, in: dom) == #""https:""#, "\(dom.prefix(300))")
        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
    }

    /// The base64 SHA-256 of a certificate's public key (what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes).
    static func spkiHash(_ certificate: String) async throws -> String {
        let script = "openssl x509 -in '\(certificate)' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"
        let (status, output) = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        guard status == 0 else { throw ChildProcessError("spki hash: \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Markup where the page puts text. Against the old page (values written into `innerHTML`,
    /// node ids into `onclick` strings) the label's handler ran on every render and approved
    /// the gate with the operator's token, no click needed: the run completed by itself.
    enum Hostile {
        static let label = #"<img src=x onerror="window.__xss='label';decide(document.querySelector('#gates b').textContent,'approve')">"#
        static let mutatedLabel = #""><svg onload="window.__xss='mutated label'">"#
        static let output = "<img src=x onerror=window.__xss='output'>"
        static let scriptOutput = "<script>window.__xss='script'</script>"
        static let nodeID = "<img src=x onerror=window.__xss='node id'>"
        static let nodeOutput = #""><svg onload=window.__xss='svg'>"#
        static let gateID = #"review');window.__xss='gate id';('" autofocus onfocus="window.__xss='attribute';//"#
        static let title = "<img src=x onerror=window.__xss='title'>"

        /// A DAG carrying them: `plan` (hostile label) adds `write` (hostile label and output)
        /// and `__proto__` (a key that pollutes a plain object map) at run time; a node whose
        /// id is markup; a gate whose id breaks out of a quoted string and whose title is
        /// markup; `after` (collect: its output is keyed by the gate's id) ends the run.
        static func definition() throws -> Data {
            let nodes: [[String: Any]] = [
                ["id": "plan", "label": label, "handler": "expand", "params": ["ms": 10, "nodes": [
                    ["id": "write", "label": mutatedLabel, "depends_on": ["plan"], "handler": "model_call",
                     "params": ["ms": 20, "output": output]],
                    ["id": "__proto__", "depends_on": ["plan"], "handler": "sleep", "params": ["ms": 10, "output": scriptOutput]],
                ]]],
                ["id": nodeID, "handler": "sleep", "params": ["ms": 10, "output": nodeOutput]],
                ["id": gateID, "depends_on": ["plan", nodeID], "gate": ["presentation": ["title": title]]],
                ["id": "after", "depends_on": [gateID], "handler": "collect"],
            ]
            return try JSONSerialization.data(withJSONObject: ["nodes": nodes])
        }
    }

    @Test func hostileLabelsOutputsTitlesAndIdsStayText() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let dag = log.directory.appendingPathComponent("hostile.json")
        try Hostile.definition().write(to: dag)
        let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: ["--dag", dag.path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        let gateLine = "<p><b>\(Self.escaped(Hostile.gateID))</b>: \(Self.escaped(Hostile.title)) <button type=\"button\">Approve</button> <button type=\"button\">Reject</button>"
        // Only the page's own kinds of element: HTML ones from its structure and panels, and
        // in the one SVG (the graph) only groups, paths, boxes, text and titles.
        let tags = #"""
            [...document.querySelectorAll("body *")].filter((e) => e.namespaceURI === "http://www.w3.org/1999/xhtml"
              ? !["header", "h1", "h2", "h3", "p", "nav", "ul", "li", "main", "div", "section", "meter", "label", "input", "button",
                  "pre", "b", "aside", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td"].includes(e.localName)
              : !(["g", "path", "rect", "text", "title"].includes(e.localName) || e === document.getElementById("graph"))
            ).map((e) => e.localName).concat(document.querySelectorAll("svg").length === 1 ? [] : ["another svg"])
            """#
        // The hostile output, opened in the node's detail panel (a click on its row).
        let openWrite = ##"[...document.querySelectorAll("#nodes tr")].find((row) => row.cells[2].textContent.includes("__xss='output'")).click()"##
        let handlers = #"[...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith("on"))"#
        let (status, output) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/#token=op", "30", #"<p id="status">live</p>"#, gateLine,
            Self.row(Hostile.label, "completed"),
            Self.row(Hostile.mutatedLabel, "completed", Self.json(Hostile.output)),
            Self.row("__proto__", "completed", Self.json(Hostile.scriptOutput)),
            Self.row(Hostile.nodeID, "completed", Self.json(Hostile.nodeOutput)),
            // Time for a handler smuggled in to have run (in the old page it approved the gate
            // within milliseconds), then: still waiting, nothing ran, nothing was created.
            "--eval", ##"new Promise((done) => setTimeout(() => done(document.querySelectorAll("#gates button").length), 1000))"##,
            "--eval", "typeof window.__xss",
            "--eval", tags,
            "--eval", handlers,
            "--eval", "document.scripts.length",
            "--eval", #""status" in Object.prototype || "output" in Object.prototype"#,
            "--eval", "location.href",
            // The browser enforces the CSP: an inline script added now does not run.
            "--eval", #"(() => { const s = document.createElement("script"); s.textContent = "window.__inline = 1"; document.body.append(s); return typeof window.__inline; })()"#,
            // The hostile output in full, as text, in the detail panel: nothing runs.
            "--do", openWrite, "<pre class=\"output\">\(Self.escaped(Self.json(Hostile.output)))</pre>",
            "--screenshot", try Self.screenshot("hostile-detail"),
            "--eval", ##"new Promise((done) => setTimeout(() => done(typeof window.__xss), 500))"##,
            // The operator approves with a click: the id, sent back as it came, decides the gate.
            "--click", "#gates button", Self.row("after", "completed"), "· completed · seq",
            "--eval", "typeof window.__xss",
            // A reload finds the token in sessionStorage (the address no longer has it).
            "--do", #"document.body.dataset.stale = "yes"; setTimeout(() => location.reload(), 0)"#,
            "--absent", #"data-stale="yes""#, #"<p id="status">live</p>"#, "· completed · seq",
            "--eval", "location.href", "--eval", "typeof window.__xss",
        ])
        let tail = String(output.suffix(3000))
        #expect(status == 0, "\(tail)")
        #expect(Self.evaluation(1, in: output) == "3", "the gate was decided without a click (Approve, Reject, Modify are gone): \(tail)")
        #expect(Self.evaluation(2, in: output) == #""undefined""#, "hostile markup ran: \(tail)")
        #expect(Self.evaluation(3, in: output) == "[]", "elements were made from data: \(tail)")
        #expect(Self.evaluation(4, in: output) == "[]", "inline handlers in the page: \(tail)")
        #expect(Self.evaluation(5, in: output) == "1", "scripts other than /dashboard.js: \(tail)")
        #expect(Self.evaluation(6, in: output) == "false", "a node id polluted Object.prototype: \(tail)")
        #expect(Self.evaluation(7, in: output) == #""http://127.0.0.1:\#(port)/""#, "the token left the address bar: \(tail)")
        #expect(Self.evaluation(8, in: output) == #""undefined""#, "the CSP did not stop an inline script: \(tail)")
        #expect(Self.evaluation(9, in: output) == #""undefined""#, "the output in the detail panel ran: \(tail)")
        #expect(Self.evaluation(10, in: output) == #""undefined""#, "\(tail)")
        #expect(Self.evaluation(11, in: output) == #""http://127.0.0.1:\#(port)/""#, "\(tail)")
        #expect(Self.evaluation(12, in: output) == #""undefined""#, "\(tail)")
        // The decision came from the click, with the gate's id intact, and the id reached the
        // collect node's output as a key.
        #expect(output.contains(Self.row(Hostile.gateID, "completed")), "\(tail)")

        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
    }

    @Test func thePageAndItsAssetsCarryTheSecurityHeaders() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", ServeCommandTests.fixtures.appendingPathComponent("quick.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let policy = "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            + "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
        for (path, type) in [("/", "text/html; charset=utf-8"), ("/dashboard.js", "application/javascript; charset=utf-8"),
                             ("/dashboard.css", "text/css; charset=utf-8")] {
            let response = try await httpGet(path, port: port, loop: loop)
            let head = response.components(separatedBy: "\r\n\r\n").first ?? ""
            #expect(head.hasPrefix("HTTP/1.1 200 "), "\(path): \(head)")
            for header in [policy, "Content-Type: \(type)\r\n", "X-Content-Type-Options: nosniff\r\n",
                           "Referrer-Policy: no-referrer\r\n", "Cache-Control: no-store\r\n"] {
                #expect((head + "\r\n").contains(header), "\(path) lacks \(header): \(head)")
            }
        }
        // Nothing inline for the CSP to forbid: one external script, one stylesheet.
        let page = try await httpGet("/", port: port, loop: loop)
        #expect(page.components(separatedBy: "<script").count == 2 && page.contains(#"<script src="/dashboard.js" defer></script>"#))
        #expect(!page.contains("<style") && !page.contains("style=") && !page.contains(" on"), "\(page)")
        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await loop.shutdown().isClean)
    }

    /// The value chromium_dom.py printed for its `number`th --eval.
    static func evaluation(_ number: Int, in output: String) -> String? {
        let prefix = "EVAL \(number) "
        return output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// A node's table row as `outerHTML` serializes it.
    static func row(_ name: String, _ status: String, _ output: String? = nil) -> String {
        let start = #"<tr><td>\#(escaped(name))</td><td class="s-\#(status)">\#(status)</td>"#
        return output.map { start + "<td>\(escaped($0))</td></tr>" } ?? start
    }

    /// Text as `outerHTML` serializes a text node.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\u{A0}", with: "&nbsp;")
    }

    /// A string as `JSON.stringify` writes it (the test's strings have no control characters).
    static func json(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
