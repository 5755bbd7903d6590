import EddyLoop
import EddyNet
import EddyWebSocket
import EddyTestSupport
import Foundation
import Testing

/// Eddy's WebSocket against Python `websockets` 17, a real and independent peer.
@Suite("WebSocket against Python websockets", .timeLimit(.minutes(3)))
struct PythonWebSocketPeerTests {
    @Test(arguments: EchoServerFixture.Echo.allCases)
    func pythonClientSuiteAgainstEddyServer(echo: EchoServerFixture.Echo) async throws {
        let server = try await EchoServerFixture.start(echo: echo)
        let (status, output) = try await Peers.run("ws_client_suite.py", [server.baseURL])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAIL"), "\(output)")
        #expect(output.contains("PASS"))
        #expect(await server.stop().allSatisfy { $0.isClean })
    }

    /// The same suite against the `eddy echo` binary as shipped: one server with every
    /// limit at its default, one with the limits the Autobahn|Testsuite needs.
    @Test func pythonClientSuiteAgainstEddyEchoCommand() async throws {
        let (standard, standardPort) = try await startEddyServer(["echo", "--port", "0"])
        defer { standard.terminate(); standard.waitUntilExit() }
        let (big, bigPort) = try await startEddyServer(
            ["echo", "--port", "0", "--max-message-size", "67108864", "--max-fragments", "1000000"])
        defer { big.terminate(); big.waitUntilExit() }
        let (status, output) = try await Peers.run("ws_client_suite.py", ["ws://127.0.0.1:\(standardPort)", "ws://127.0.0.1:\(bigPort)"])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAIL"), "\(output)")
        #expect(output.contains("PASS"))
    }

    @Test(arguments: [true, false])
    func eddyClientAgainstPythonServer(compression: Bool) async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: Peers.python)
        process.arguments = [Peers.directory.appendingPathComponent("ws_echo_server.py").path] + (compression ? [] : ["--no-compression"])
        let stdout = ChildPipe()
        let stdin = ChildPipe()
        process.standardOutput = stdout
        process.standardInput = stdin
        try process.run()
        defer { stdin.closeWritingEnd(); process.waitUntilExit() }
        let line = await onOwnThread { readLine(stdout.fileHandleForReading) }
        let port = try #require(Int(line.replacingOccurrences(of: "LISTENING ", with: "")))

        let loop = try EventLoop()
        var configuration = WebSocketClientConfiguration()
        configuration.connection.maxMessageSize = 32 << 20
        configuration.connection.maxFrameSize = 32 << 20
        // No pings either way: on a loaded machine a 16 MiB message can take longer to arrive
        // than a pong timeout, and the pong waits behind it (keep-alive has tests of its own).
        configuration.connection.keepAlive = .disabled
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/", configuration: configuration, on: loop)
        #expect(socket.isCompressed == compression)
        try await Task(executorPreference: loop) {
            var iterator = socket.messages.makeAsyncIterator()
            for size in [0, 1, 125, 126, 65535, 65536, 16 << 20] {
                let binary = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                try await socket.send(.binary(binary))
                #expect(try await iterator.next() == .binary(binary))
                let text = String(repeating: "ü€", count: size / 5)
                try await socket.send(.text(text))
                #expect(try await iterator.next() == .text(text))
            }
            try await socket.ping(Array("hello".utf8))
            let status = await socket.close(code: WebSocketCloseCode(4001), reason: "done")
            #expect(status.code == WebSocketCloseCode(4001))
            #expect(status.wasClean)
        }.value
        #expect(await loop.shutdown().isClean)
    }
}
