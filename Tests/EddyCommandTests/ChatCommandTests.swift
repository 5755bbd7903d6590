import EddyLoop
import EddyWebSocket
import EddyTestSupport
import Foundation
import Testing

/// `eddy chat` end to end: the built binary, its page, its room, its shutdown.
@Suite("eddy chat", .timeLimit(.minutes(3)))
struct ChatCommandTests {
    /// Starts `eddy chat --port 0`; returns the process and its port.
    static func startDemo() async throws -> (ChildProcess, Int) {
        try await startEddyServer(["chat", "--port", "0"])
    }


    @Test func servesThePageAndARoomAndStopsOnSIGTERM() async throws {
        let (process, port) = try await Self.startDemo()

        let loop = try EventLoop()
        var page = try await RawHTTPClient.connect(port: port, loop: loop)
        try await page.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try #require(try await page.response())
        #expect(response.status == 200)
        #expect(response.head.contains("text/html"))
        #expect(response.head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"), "\(response.head)")
        #expect(response.body.contains(#"<script src="/chat.js" defer></script>"#) && !response.body.contains("<script>"))
        try await page.send("GET /chat.js HTTP/1.1\r\nHost: x\r\n\r\n")
        let script = try #require(try await page.response())
        #expect(script.status == 200 && script.head.contains("application/javascript") && script.head.contains("Content-Security-Policy"))
        #expect(script.body.contains("new WebSocket"))
        await page.connection.close()

        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/ws?name=alice", on: loop)
        try await Task(executorPreference: loop) {
            var messages = socket.messages.makeAsyncIterator()
            #expect(try await messages.next() == .text(#"{"from":"eddy","text":"alice joined"}"#))
            try await socket.send(text: "hi \"there\"")
            #expect(try await messages.next() == .text(#"{"from":"alice","text":"hi \"there\""}"#))
            await socket.close()
        }.value
        #expect(await loop.shutdown().isClean)

        process.terminate() // SIGTERM
        let status = await onOwnThread { process.waitUntilExit(); return process.terminationStatus }
        #expect(status == 0)
    }
}
