import EddyLoop
import EddyTestSupport
import EddyWebSocket
import Foundation
import EddyShared
import Testing

/// Rooms across `eddy` processes through a real `redis-server` (issue 17's first slice):
/// the built binary as three nodes, Python `websockets` members spread over them.
@Suite("eddy rooms across nodes (Redis)", .timeLimit(.minutes(2)))
struct RedisRoomsCommandTests {
    static func startNode(_ name: String, redis: RedisServer) async throws -> (ChildProcess, Int) {
        try await startEddyServer(["echo", "--broadcast", "--port", "0", "--loops", "2", "--redis", redis.url, "--node", name])
    }

    static func stop(_ process: ChildProcess) async -> Int32 {
        process.terminate()
        return await onOwnThread { process.waitUntilExit(); return process.terminationStatus }
    }

    @Test func everyMemberOnEveryNodeGetsEveryMessageInPublisherOrder() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        var nodes: [(ChildProcess, Int)] = []
        for name in ["a", "b", "c"] { nodes.append(try await Self.startNode(name, redis: redis)) }
        let urls = nodes.map { "ws://127.0.0.1:\($0.1)/" }.joined(separator: ",")
        let (status, output) = try await runPythonPeer("ws_room_nodes.py", [urls, "4", "300"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("OK 12 900"), "\(output)")
        for (process, _) in nodes { #expect(await Self.stop(process) == 0) }
    }

    @Test func localDeliveryGoesOnWhileRedisIsDownAndCrossNodeResumesWhenItIsBack() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let (nodeA, portA) = try await Self.startNode("a", redis: redis)
        let (nodeB, portB) = try await Self.startNode("b", redis: redis)
        let loop = try EventLoop()
        let a1 = try await Member.join("ws://127.0.0.1:\(portA)/", name: "a1", on: loop)
        let a2 = try await Member.join("ws://127.0.0.1:\(portA)/", name: "a2", on: loop)
        let b1 = try await Member.join("ws://127.0.0.1:\(portB)/", name: "b1", on: loop)

        try await a1.send("before")
        #expect(try await b1.waitFor("before"))
        #expect(try await a2.waitFor("before"))

        redis.stop()
        for index in 0..<20 { try await a1.send("local-\(index)") }
        // Local members still get everything, in order.
        #expect(try await a2.waitFor("local-19"))
        #expect(a2.received(withPrefix: "local-") == (0..<20).map { "local-\($0)" })

        try await redis.restart()
        // Both directions come back on their own (publisher reconnect, subscriber resubscribe).
        #expect(try await Self.probe(from: a1, to: b1, tag: "a-probe"))
        #expect(try await Self.probe(from: b1, to: a2, tag: "b-probe"))
        for index in 0..<50 { try await a1.send("after-\(index)") }
        #expect(try await b1.waitFor("after-49"))
        #expect(try await a2.waitFor("after-49"))
        let expected = (0..<50).map { "after-\($0)" }
        #expect(b1.received(withPrefix: "after-") == expected)
        #expect(a2.received(withPrefix: "after-") == expected)
        // A node never delivers its own publication twice.
        #expect(a2.received(withPrefix: "before") == ["before"])

        for member in [a1, a2, b1] { await member.close() }
        #expect(await loop.shutdown().isClean)
        #expect(await Self.stop(nodeA) == 0)
        #expect(await Self.stop(nodeB) == 0)
    }

    @Test func chatRoomsSpanTwoNodes() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let (nodeA, portA) = try await startEddyServer(["chat", "--port", "0", "--redis", redis.url + "/1", "--node", "a"])
        let (nodeB, portB) = try await startEddyServer(["chat", "--port", "0", "--redis", redis.url + "/1", "--node", "b"])
        let loop = try EventLoop()
        let bob = try await Member.connect("ws://127.0.0.1:\(portB)/ws?name=bob", on: loop)
        #expect(try await bob.waitFor(#"{"from":"eddy","text":"bob joined"}"#))
        let alice = try await Member.connect("ws://127.0.0.1:\(portA)/ws?name=alice", on: loop)
        #expect(try await bob.waitFor(#"{"from":"eddy","text":"alice joined"}"#))
        try await alice.send("hello from a")
        #expect(try await bob.waitFor(#"{"from":"alice","text":"hello from a"}"#))
        try await bob.send("hello from b")
        #expect(try await alice.waitFor(#"{"from":"bob","text":"hello from b"}"#))
        #expect(bob.received(withPrefix: #"{"from":"alice""#).count == 1)
        for member in [alice, bob] { await member.close() }
        #expect(await loop.shutdown().isClean)
        #expect(await Self.stop(nodeA) == 0)
        #expect(await Self.stop(nodeB) == 0)
    }

    @Test func roomsSpanNodesOverTLSWithThePasswordFromAFileOrTheEnvironment() async throws {
        let certificates = try await TestCertificates.shared.value
        let tlsPort = try freeLoopbackPort()
        let redis = try await RedisServer.start(["--tls-port", String(tlsPort), "--tls-cert-file", certificates.server.certificate,
                                                 "--tls-key-file", certificates.server.key, "--tls-ca-cert-file", certificates.ca,
                                                 "--tls-auth-clients", "no", "--requirepass", "file-pw"])
        defer { redis.shutDown() }
        let passwordFile = redis.directory.appendingPathComponent("redis-password")
        try "file-pw\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let url = "rediss://localhost:\(tlsPort)"
        let (nodeA, portA) = try await startEddyServer(["echo", "--broadcast", "--port", "0", "--redis", url, "--node", "a",
                                                        "--redis-ca", certificates.ca, "--redis-password-file", passwordFile.path])
        let (nodeB, portB) = try await startEddyServer(["echo", "--broadcast", "--port", "0", "--redis", url, "--node", "b",
                                                        "--redis-ca", certificates.ca],
                                                       environment: environment(with: ["EDDY_REDIS_PASSWORD": "file-pw"]))
        let loop = try EventLoop()
        let a = try await Member.join("ws://127.0.0.1:\(portA)/", name: "a", on: loop)
        let b = try await Member.join("ws://127.0.0.1:\(portB)/", name: "b", on: loop)
        try await a.send("over tls")
        #expect(try await b.waitFor("over tls"))
        for member in [a, b] { await member.close() }
        #expect(await loop.shutdown().isClean)
        #expect(await Self.stop(nodeA) == 0)
        #expect(await Self.stop(nodeB) == 0)
    }

    @Test func refusesAPasswordOnTheCommandLineAndSaysWhereToPutIt() async throws {
        let (status, output) = try await runProcess(eddyBinary, ["echo", "--broadcast", "--port", "0",
                                                                  "--redis", "redis://:hunter2@127.0.0.1:6379"])
        #expect(status != 0)
        #expect(output.contains("EDDY_REDIS_PASSWORD") && !output.contains("hunter2"), "\(output)")
        let (badNode, nodeOutput) = try await runProcess(eddyBinary, ["chat", "--port", "0", "--redis", "redis://127.0.0.1:1",
                                                                       "--node", "a b"])
        #expect(badNode != 0 && nodeOutput.contains("--node"), "\(nodeOutput)")
    }

    /// Sends `tag-<i>` from `sender` until `receiver` gets one (bounded: 200 probes, 50 ms apart).
    static func probe(from sender: Member, to receiver: Member, tag: String) async throws -> Bool {
        for index in 0..<200 {
            try await sender.send("\(tag)-\(index)")
            if try await receiver.waitFor(prefix: tag, attempts: 5) { return true }
        }
        return false
    }
}

/// A WebSocket member of the broadcast room that records what it receives.
final class Member: Sendable {
    let socket: WebSocket
    let loop: EventLoop
    private let log = Mutex<[String]>([])
    private let reader = Mutex<Task<Void, Never>?>(nil)

    private init(socket: WebSocket, loop: EventLoop) {
        self.socket = socket
        self.loop = loop
    }

    /// Connects and waits until its own hello came back (it is then a member of the room).
    static func join(_ url: String, name: String, on loop: EventLoop) async throws -> Member {
        let member = try await connect(url, on: loop)
        try await member.send("hello:\(name)")
        guard try await member.waitFor("hello:\(name)") else { throw ChildProcessError("\(name) never got its hello back") }
        return member
    }

    /// Connects and records every text message received.
    static func connect(_ url: String, on loop: EventLoop) async throws -> Member {
        let socket = try await WebSocket.connect(to: url, on: loop)
        let member = Member(socket: socket, loop: loop)
        let task = Task(executorPreference: loop) {
            do {
                for try await message in socket.messages {
                    if case .text(let text) = message { member.log.withLock { $0.append(text) } }
                }
            } catch {}
        }
        member.reader.withLock { $0 = task }
        return member
    }

    func send(_ text: String) async throws {
        try await Task(executorPreference: loop) { try await self.socket.send(text: text) }.value
    }

    func received(withPrefix prefix: String) -> [String] { log.withLock { $0.filter { $0.hasPrefix(prefix) } } }

    /// Waits until `text` was received (bounded: `attempts` × 20 ms).
    func waitFor(_ text: String, attempts: Int = 500) async throws -> Bool {
        try await waitUntil(attempts: attempts) { $0.contains(text) }
    }

    func waitFor(prefix: String, attempts: Int) async throws -> Bool {
        try await waitUntil(attempts: attempts) { $0.contains { $0.hasPrefix(prefix) } }
    }

    private func waitUntil(attempts: Int, _ condition: ([String]) -> Bool) async throws -> Bool {
        for _ in 0..<attempts {
            if log.withLock({ condition($0) }) { return true }
            try await loop.sleep(for: .milliseconds(20))
        }
        return false
    }

    func close() async {
        _ = await Task(executorPreference: loop) { await self.socket.close() }.value
        let task = reader.withLock { $0 }
        await task?.value
    }
}
