import EddyTestSupport
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import Testing

@Suite("WebSocket connections end to end", .timeLimit(.minutes(3)))
struct WebSocketConnectionTests {
    /// A server whose single route runs `handler`, with keep-alive set as given.
    static func server(keepAlive: WebSocketKeepAliveConfiguration = .disabled,
                       handler: @escaping WebSocketRoute.Handler) async throws -> (EventLoopGroup, TCPListener, Task<Void, any Error>) {
        var connection = WebSocketConfiguration()
        connection.keepAlive = keepAlive
        return try await serve(WebSocketRoute(endpoint: WebSocketEndpoint(connection: connection), handler: handler))
    }

    /// Serves `route` at `/ws` on a fresh two-loop group.
    static func serve(_ route: WebSocketRoute) async throws -> (EventLoopGroup, TCPListener, Task<Void, any Error>) {
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/ws", route)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return (group, listener, serving)
    }

    static func stop(_ group: EventLoopGroup, _ listener: some ByteStreamListener, _ serving: Task<Void, any Error>) async -> Bool {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown().allSatisfy { $0.isClean }
    }

    @Test func eddyClientAndServerExchangeMessagesAndCloseCleanly() async throws {
        let (group, listener, serving) = try await Self.server { socket, context in
            #expect(context.request.path == "/ws")
            for try await message in socket.messages {
                if case .text(let text) = message, text == "bye" { break }
                try await socket.send(message)
            }
            // Returning closes with 1000.
        }
        let loop = group.loops[1]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        #expect(socket.isCompressed)
        let status = try await Task(executorPreference: loop) { () -> WebSocketCloseStatus? in
            var iterator = socket.messages.makeAsyncIterator()
            try await socket.send(text: "hello")
            #expect(try await iterator.next() == .text("hello"))
            let big = [UInt8](repeating: 7, count: 300_000)
            try await socket.send(binary: big)
            #expect(try await iterator.next() == .binary(big))
            try await socket.send(text: "bye")
            #expect(try await iterator.next() == nil) // the server closed with 1000: the sequence just ends
            return socket.closeStatus
        }.value
        #expect(status?.code == .normalClosure)
        #expect(status?.wasClean == true)
        await #expect(throws: WebSocketClosedError.self) { try await socket.send(text: "late") }
        #expect(await Self.stop(group, listener, serving))
    }

    @Test func clientInitiatedCloseCarriesItsCode() async throws {
        let (group, listener, serving) = try await Self.server { socket, _ in
            do {
                for try await _ in socket.messages {}
            } catch let error as WebSocketClosedError {
                #expect(error.status.code == WebSocketCloseCode(4321))
            }
        }
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[0])
        let status = await socket.close(code: WebSocketCloseCode(4321), reason: "done here")
        #expect(status.code == WebSocketCloseCode(4321))
        #expect(status.wasClean)
        #expect(await Self.stop(group, listener, serving))
    }

    @Test func serverPingsAndClosesAPeerThatNeverAnswers() async throws {
        let keepAlive = WebSocketKeepAliveConfiguration(pingInterval: .milliseconds(50), pongTimeout: .milliseconds(100))
        let (group, listener, serving) = try await Self.server(keepAlive: keepAlive) { socket, _ in
            for try await _ in socket.messages {}
        }
        // A raw client that completes the handshake and then never answers anything.
        var client = try await RawHTTPClient.connect(port: listener.localAddress.port, loop: group.loops[0])
        try await client.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(try await client.response()?.status == 101)
        var bytes = client.buffer
        while let chunk = try? await client.connection.read() { bytes += chunk } // until the server closes
        let opcodes = Self.opcodes(in: bytes)
        #expect(opcodes.first == 0x9, "a ping first: \(opcodes)")
        #expect(opcodes.last == 0x8, "then a close: \(opcodes)")
        #expect(Self.closeCode(in: bytes) == 1011)
        await client.connection.close()
        #expect(await Self.stop(group, listener, serving))
    }

    @Test func aPeerThatAnswersPingsStaysConnected() async throws {
        // Pings every 30 ms; a pong may take up to 5 s (the client answers when it next
        // reads, and a loaded machine can delay that): the test is about survival, not speed.
        let keepAlive = WebSocketKeepAliveConfiguration(pingInterval: .milliseconds(30), pongTimeout: .seconds(5))
        let (group, listener, serving) = try await Self.server(keepAlive: keepAlive) { socket, _ in
            for try await message in socket.messages { try await socket.send(message) }
        }
        let loop = group.loops[0]
        var configuration = WebSocketClientConfiguration()
        configuration.connection.keepAlive = .disabled
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", configuration: configuration, on: loop)
        try await Task(executorPreference: loop) {
            var iterator = socket.messages.makeAsyncIterator()
            for round in 0..<10 { // ~10 ping intervals; the client's reads answer the pings
                try await socket.send(text: "round \(round)")
                #expect(try await iterator.next() == .text("round \(round)"))
                try await loop.sleep(for: .milliseconds(30))
            }
        }.value
        #expect(socket.closeStatus == nil)
        #expect(await socket.close().code == .normalClosure)
        #expect(await Self.stop(group, listener, serving))
    }

    @Test func connectErrorsAreTyped() async throws {
        let loop = try EventLoop()
        let group = try EventLoopGroup(loopCount: 1)
        // Refused.
        let closed = try RefusingLoopbackPort()
        let refused = await #expect(throws: IOError.self) { _ = try await WebSocket.connect(to: "ws://127.0.0.1:\(closed.port)/", on: loop) }
        #expect(refused?.code == .connectionRefused)
        withExtendedLifetime(closed) {}
        // A server that accepts but never answers the handshake.
        let silent = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        var configuration = WebSocketClientConfiguration()
        configuration.handshakeTimeout = .milliseconds(150)
        let timedOut = await #expect(throws: IOError.self) {
            _ = try await WebSocket.connect(to: "ws://127.0.0.1:\(silent.localAddress.port)/", configuration: configuration, on: loop)
        }
        #expect(timedOut?.code == .timedOut)
        // Not a WebSocket URL (wss:// is: SecureWebSocketTests).
        await #expect(throws: WebSocketHandshakeError.self) { _ = try await WebSocket.connect(to: "http://127.0.0.1/", on: loop) }
        await silent.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
        #expect(await loop.shutdown().isClean)
    }

    @Test func closeFromAnotherTaskWhileAConsumerIsBetweenReads() async throws {
        let (group, listener, serving) = try await Self.server { socket, _ in
            for try await message in socket.messages { try await socket.send(message) }
        }
        let loop = group.loops[0]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        let reader = Task(executorPreference: loop) { () -> Int in
            var received = 0
            for try await _ in socket.messages {
                received += 1
                try await loop.sleep(for: .milliseconds(2)) // between reads for a while
            }
            return received
        }
        for i in 0..<20 { try await socket.send(text: "m\(i)") }
        try await loop.sleep(for: .milliseconds(10))
        let status = await socket.close() // from this task, while the reader is mid-stream
        #expect(status.code == .normalClosure)
        #expect(status.wasClean)
        let received = try await reader.value // ends normally: the close was clean
        #expect(received <= 20)
        #expect(await Self.stop(group, listener, serving))
    }

    // MARK: Frame reading helpers (server frames are unmasked)

    static func frames(in bytes: [UInt8]) -> [(opcode: UInt8, payload: [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        var i = 0
        while i + 2 <= bytes.count {
            let opcode = bytes[i] & 0x0F
            var length = Int(bytes[i + 1] & 0x7F)
            var offset = i + 2
            if length == 126 { guard offset + 2 <= bytes.count else { break }; length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1]); offset += 2 }
            guard length < 126 || offset > i + 2, offset + length <= bytes.count else { break }
            out.append((opcode, Array(bytes[offset..<(offset + length)])))
            i = offset + length
        }
        return out
    }

    static func opcodes(in bytes: [UInt8]) -> [UInt8] { frames(in: bytes).map(\.opcode) }

    static func closeCode(in bytes: [UInt8]) -> Int? {
        guard let close = frames(in: bytes).last(where: { $0.opcode == 0x8 }), close.payload.count >= 2 else { return nil }
        return Int(close.payload[0]) << 8 | Int(close.payload[1])
    }
}
