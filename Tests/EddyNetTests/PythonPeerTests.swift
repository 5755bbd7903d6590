import EddyLoop
import EddyNet
import EddyTestSupport
import Foundation
import Testing

/// Eddy's TCP against a real, independent peer: Python's asyncio streams.
@Suite("TCP against Python asyncio", .timeLimit(.minutes(3)))
struct PythonPeerTests {
    static let peers = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Peers")

    @Test func pythonClientAgainstEddyEchoServer() async throws {
        let server = try await EchoServer.start()
        let (status, output) = try await run(["python3", Self.peers.appendingPathComponent("tcp_echo_client.py").path,
                                             "127.0.0.1", String(server.port)])
        #expect(status == 0, "python client: \(output)")
        #expect(output.hasPrefix("OK "))
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func eddyClientAgainstPythonEchoServer() async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.peers.appendingPathComponent("tcp_echo_server.py").path]
        let stdout = ChildPipe()
        process.standardOutput = stdout
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let firstLine = await onOwnThread { readLine(stdout.fileHandleForReading) }
        let port = try #require(Int(firstLine.replacingOccurrences(of: "LISTENING ", with: "")))

        let loop = try EventLoop()
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let echoed = try await Task(executorPreference: loop) { () -> [UInt8] in
            try await client.write(payload)
            try await client.shutdownWrite()
            var received: [UInt8] = []
            for try await chunk in client.inbound { received += chunk }
            return received
        }.value
        #expect(echoed == payload)
        await client.close()
        #expect(await loop.shutdown().isClean)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Runs a command to completion off the cooperative pool; returns status and stdout+stderr.
    func run(_ arguments: [String]) async throws -> (Int32, String) {
        try await runProcess(URL(fileURLWithPath: "/usr/bin/env"), arguments)
    }

}
