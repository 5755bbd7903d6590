import EddyTestSupport
import Foundation
import Testing

/// A real browser (headless Chromium from Debian) against `eddy chat`: it loads the page,
/// opens the WebSocket (Chromium offers permessage-deflate), sends a message and renders
/// what the room broadcasts back.
@Suite("Headless Chromium against eddy chat", .timeLimit(.minutes(2)))
struct BrowserTests {
    @Test func chromiumJoinsTheRoomAndSeesItsOwnMessage() async throws {
        let (demo, port) = try await DemoServerTests.startDemo()
        defer { demo.terminate(); demo.waitUntilExit() }

        let (status, dom) = try await onOwnThread { () -> (Int32, String) in
            let chromium = Process()
            chromium.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
            chromium.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                  "--virtual-time-budget=5000", "--dump-dom",
                                  "http://127.0.0.1:\(port)/?say=hello%20from%20chromium"]
            let output = Pipe()
            chromium.standardOutput = output
            chromium.standardError = FileHandle.nullDevice
            try chromium.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            chromium.waitUntilExit()
            return (chromium.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(status == 0)
        #expect(dom.contains("connected as guest-"), "\(dom.suffix(600))")
        #expect(dom.contains("joined</div>"), "\(dom.suffix(600))")
        #expect(dom.contains(": </span>hello from chromium</div>"), "\(dom.suffix(600))")
    }
}
