import EddyTestSupport
import Foundation
import Testing

/// A real browser (headless Chromium from Debian) against `eddy chat`: it loads the page,
/// opens the WebSocket (Chromium offers permessage-deflate), sends a message and renders
/// what the room broadcasts back.
@Suite("Headless Chromium against eddy chat", .timeLimit(.minutes(2)))
struct ChatBrowserTests {
    @Test func chromiumJoinsTheRoomAndSeesItsOwnMessage() async throws {
        let (demo, port) = try await ChatCommandTests.startDemo()
        defer { demo.terminate(); demo.waitUntilExit() }

        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?say=hello%20from%20chromium", "30", ": </span>hello from chromium</div>",
        ])
        #expect(status == 0)
        #expect(dom.contains("connected as guest-"), "\(dom.suffix(600))")
        #expect(dom.contains("joined</div>"), "\(dom.suffix(600))")
        #expect(dom.contains(": </span>hello from chromium</div>"), "\(dom.suffix(600))")
    }

    /// A message with markup is shown as text, and nothing in it runs (the page renders text
    /// only, under a policy that forbids inline script anyway).
    @Test func chromiumShowsAHostileMessageAsText() async throws {
        let (demo, port) = try await ChatCommandTests.startDemo()
        defer { demo.terminate(); demo.waitUntilExit() }
        let hostile = "<img src=x onerror=\"window.__xss=1\">"
        let (status, dom) = try await runPythonPeer("chromium_dom.py", [
            "http://127.0.0.1:\(port)/?say=" + (hostile.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""), "30",
            ": </span>&lt;img src=x onerror=\"window.__xss=1\"&gt;</div>",
            "--eval", "typeof window.__xss", "--eval", "document.querySelectorAll('#log img').length",
        ])
        #expect(status == 0, "\(dom.suffix(600))")
        #expect(dom.contains("EVAL 1 \"undefined\""), "\(dom.prefix(300))")
        #expect(dom.contains("EVAL 2 0"), "\(dom.prefix(300))")
    }
}
