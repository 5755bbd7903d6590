import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyNet
import EddyTestSupport
import EddyWebSocket
import Foundation
import Testing

/// The executables under Examples/, run as a user would: each prints `LISTENING <port>`,
/// does its job, and exits 0 on SIGTERM.
@Suite("Examples", .timeLimit(.minutes(3)))
struct ExamplesTests {
    @Test func tcpEchoEchoesBytes() async throws {
        let (echo, port, output) = try await startListeningProcess(builtExecutable("example-tcp-echo"), ["0"])
        defer { if echo.isRunning { kill(echo.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let connection = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
        let sent = Array("hello, eddy\n".utf8)
        try await connection.write(sent)
        var received: [UInt8] = []
        while received.count < sent.count, let chunk = try await connection.read() { received += chunk }
        #expect(received == sent)
        await connection.close()
        try await Self.stop(echo)
        withExtendedLifetime(output) {}
        #expect(await loop.shutdown().isClean)
    }

    @Test func aChatMessageFromOneMemberReachesTheOther() async throws {
        let (chat, port, output) = try await startListeningProcess(builtExecutable("example-chat"), ["0"])
        defer { if chat.isRunning { kill(chat.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        // Each member waits for its own arrival, so both are in the room before anyone speaks.
        let alice = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/chat?name=alice", on: loop)
        #expect(try await Self.receive("alice joined", on: alice, loop: loop))
        let bob = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/chat?name=bob", on: loop)
        #expect(try await Self.receive("bob joined", on: bob, loop: loop))
        try await alice.send(text: "hello bob")
        #expect(try await Self.receive("alice: hello bob", on: bob, loop: loop))
        await alice.close()
        await bob.close()
        try await Self.stop(chat)
        withExtendedLifetime(output) {}
        #expect(await loop.shutdown().isClean)
    }

    @Test func theChatRoomSpansTwoProcessesThroughRedis() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let (a, portA, outputA) = try await startListeningProcess(builtExecutable("example-chat"), ["0", "--redis", redis.url, "--node", "a"])
        defer { if a.isRunning { kill(a.processIdentifier, SIGKILL) } }
        let (b, portB, outputB) = try await startListeningProcess(builtExecutable("example-chat"), ["0", "--redis", redis.url, "--node", "b"])
        defer { if b.isRunning { kill(b.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let bob = try await WebSocket.connect(to: "ws://127.0.0.1:\(portB)/chat?name=bob", on: loop)
        #expect(try await Self.receive("bob joined", on: bob, loop: loop))
        let alice = try await WebSocket.connect(to: "ws://127.0.0.1:\(portA)/chat?name=alice", on: loop)
        #expect(try await Self.receive("alice joined", on: alice, loop: loop))
        #expect(try await Self.receive("alice joined", on: bob, loop: loop)) // from the other process
        try await alice.send(text: "hello bob")
        #expect(try await Self.receive("alice: hello bob", on: bob, loop: loop))
        await alice.close()
        await bob.close()
        try await Self.stop(a)
        try await Self.stop(b)
        withExtendedLifetime((outputA, outputB)) {}
        #expect(await loop.shutdown().isClean)
    }

    @Test func theEmbeddedDAGServerRunsClosuresToCompletion() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokens = environment(with: ["EDDY_OPERATOR_TOKEN": "op", "EDDY_VIEWER_TOKEN": "view"])
        let (server, port, output) = try await startListeningProcess(
            builtExecutable("example-dag-server"), ["0", directory.appendingPathComponent("events.sqlite").path], environment: tokens)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let runLine = await onOwnThread { () -> String in
            var line = "-"
            while !line.isEmpty && !line.hasPrefix("RUN ") { line = readLine(output.fileHandleForReading) }
            return line
        }
        let runID = String(runLine.dropFirst("RUN ".count))
        #expect(!runID.isEmpty, "no RUN line")

        let loop = try EventLoop()
        let client = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "view", on: loop)
        let following = Task(executorPreference: loop) { await client.run() }
        for _ in 0..<3000 where client.state?.state.status != .completed { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state?.state.status == .completed)
        #expect(client.state?.node("sum")?.output == ["total": 385])
        following.cancel()
        await following.value
        try await Self.stop(server)
        #expect(await loop.shutdown().isClean)
    }

    @Test func aUserServiceJoinsTheServersGroupAndStopsFirstOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokens = environment(with: ["EDDY_OPERATOR_TOKEN": "op", "EDDY_VIEWER_TOKEN": "view"])
        let (server, _, output) = try await startListeningProcess(
            builtExecutable("example-dag-server"), ["0", directory.appendingPathComponent("events.sqlite").path], environment: tokens)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        // Once a run has started, the group (and the user's service in it) is running.
        var before: [String] = []
        for _ in 0..<50 {
            let line = await onOwnThread { readLine(output.fileHandleForReading) }
            before.append(line)
            if line.isEmpty || line.hasPrefix("RUN ") { break }
        }
        #expect(before.contains { $0.hasPrefix("RUN ") }, "no RUN line: \(before)")
        try await Self.stop(server)
        // The rest of stdout, to its end (the process has exited).
        let after = await onOwnThread { () -> [String] in
            var lines: [String] = []
            for _ in 0..<10_000 {
                guard let chunk = readChunk(output.fileHandleForReading, upTo: 65_536) else { break }
                lines.append(String(decoding: chunk, as: UTF8.self))
            }
            return lines.joined().split(separator: "\n").map(String.init)
        }
        let all = before + after
        let started = all.firstIndex(of: "reporter: started")
        let stopped = all.firstIndex(of: "reporter: stopped")
        let ended = all.firstIndex(of: "stopped")
        #expect(started != nil && stopped != nil && ended != nil, "\(all)")
        if let started, let stopped, let ended {
            #expect(started < stopped && stopped < ended, "\(all)")
        }
    }

    /// Reads text messages from `socket` until one equals `text`; false if the socket ends first.
    static func receive(_ text: String, on socket: WebSocket, loop: EventLoop) async throws -> Bool {
        try await Task(executorPreference: loop) { () -> Bool in
            for try await message in socket.messages {
                if case .text(let received) = message, received == text { return true }
            }
            return false
        }.value
    }

    /// SIGTERM, then expects a clean exit (status 0) within 10 s.
    static func stop(_ process: ChildProcess) async throws {
        process.terminate()
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "did not exit within 10 s of SIGTERM")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
