import EddyLoop
import EddyNet
import EddyTestSupport
import Foundation
import Testing

/// A real browser (headless Chromium from Debian) against the dashboard page of
/// `eddy serve --dag`: the page follows the lobby to the run, applies its snapshot and
/// deltas, renders the node states and the waiting gate with its buttons; a click on
/// Approve (operator token) completes the gate and the run. Hostile labels, outputs, gate
/// titles and node ids stay text, and the page is served under a CSP that forbids inline script.
@Suite("Headless Chromium against the DAG dashboard", .timeLimit(.minutes(2)))
struct DashboardBrowserTests {
    @Test func chromiumRendersTheLiveRunAndItsWaitingGate() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", ServeCommandTests.fixtures.appendingPathComponent("approval.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        // Real time over the DevTools protocol: the page is read until it shows the run live
        // with its waiting gate (bounded), then checked in detail. The token comes in the
        // query, the form older links use.
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?token=view", "30", #"<p id="status">live</p>"#,
            #"<td class="s-waiting_human">waiting_human</td>"#, #"<p><b>review</b>: Ship it?"#,
            "--eval", "location.href",
        ])
        #expect(status == 0)
        #expect(dom.contains(#"<p id="status">live</p>"#), "\(dom.suffix(1500))")
        #expect(dom.contains(#"<p id="runs">runs: run-"#) && dom.contains("(running)"), "\(dom.suffix(1500))")
        #expect(dom.contains("· running · seq"), "\(dom.suffix(1500))")
        for node in ["plan", "draft", "flaky", "join"] {
            #expect(dom.contains(#"<tr><td>\#(node)</td><td class="s-completed">completed</td>"#), "\(node): \(dom.suffix(1500))")
        }
        #expect(dom.contains(#"<tr><td>review</td><td class="s-waiting_human">waiting_human</td>"#), "\(dom.suffix(1500))")
        #expect(dom.contains(#"<p><b>review</b>: Ship it? <button>Approve</button> <button>Reject</button></p>"#), "\(dom.suffix(1500))")
        #expect(dom.contains(#""draft text""#), "outputs are rendered: \(dom.suffix(1500))")
        #expect(Self.evaluation(1, in: dom) == #""http://127.0.0.1:\#(port)/""#, "the token left the address bar: \(dom.prefix(300))")

        // An operator approves in the browser: the gate completes, then the run.
        let (approved, after) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/#token=op", "30", #"<p><b>review</b>: Ship it?"#,
            "--click", "#gates button", #"<tr><td>review</td><td class="s-completed">completed</td>"#,
            #"<tr><td>ship</td><td class="s-completed">completed</td>"#, "· completed · seq",
        ])
        #expect(approved == 0, "\(after.suffix(1500))")
        #expect(!after.contains("<p><b>review</b>"), "the gate left the page: \(after.suffix(1500))")

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

        let gateLine = "<p><b>\(Self.escaped(Hostile.gateID))</b>: \(Self.escaped(Hostile.title)) <button>Approve</button> <button>Reject</button></p>"
        let tags = #"[...document.querySelectorAll("body *")].map((e) => e.localName).filter((t) => !["h1", "p", "div", "table", "thead", "tbody", "tr", "th", "td", "b", "button"].includes(t))"#
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
        #expect(Self.evaluation(1, in: output) == "2", "the gate was decided without a click: \(tail)")
        #expect(Self.evaluation(2, in: output) == #""undefined""#, "hostile markup ran: \(tail)")
        #expect(Self.evaluation(3, in: output) == "[]", "elements were made from data: \(tail)")
        #expect(Self.evaluation(4, in: output) == "[]", "inline handlers in the page: \(tail)")
        #expect(Self.evaluation(5, in: output) == "1", "scripts other than /dashboard.js: \(tail)")
        #expect(Self.evaluation(6, in: output) == "false", "a node id polluted Object.prototype: \(tail)")
        #expect(Self.evaluation(7, in: output) == #""http://127.0.0.1:\#(port)/""#, "the token left the address bar: \(tail)")
        #expect(Self.evaluation(8, in: output) == #""undefined""#, "the CSP did not stop an inline script: \(tail)")
        #expect(Self.evaluation(9, in: output) == #""undefined""#, "\(tail)")
        #expect(Self.evaluation(10, in: output) == #""http://127.0.0.1:\#(port)/""#, "\(tail)")
        #expect(Self.evaluation(11, in: output) == #""undefined""#, "\(tail)")
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
