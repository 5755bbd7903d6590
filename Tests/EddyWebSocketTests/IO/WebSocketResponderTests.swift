import EddyHTTP
import EddyLoop
import EddyNet
@testable import EddyWebSocket
import struct Synchronization.Atomic
import EddyShared
import Testing

/// Sockets driven by a `WebSocketResponder`: callbacks on the loop, no task per connection.
/// (The Python `websockets` suite also runs against a responder echo, for conformance.)
@Suite("WebSocket responders (no task per connection)", .timeLimit(.minutes(3)))
struct WebSocketResponderTests {
    static func server(_ responder: some WebSocketResponder, connection: WebSocketConfiguration = WebSocketConfiguration()) async throws -> (EventLoopGroup, TCPListener, Task<Void, any Error>) {
        try await WebSocketConnectionTests.serve(WebSocketRoute(endpoint: WebSocketEndpoint(connection: connection), responder: responder))
    }

    /// Records every callback, in order, and checks each comes on the socket's loop.
    final class Recorder: WebSocketResponder, @unchecked Sendable {
        let log = Mutex<[String]>([])
        /// The last socket opened (for checks on the server's side), held weakly: the socket
        /// holds its responder, and a strong reference back would keep both for ever.
        let lastSocket = Mutex<WeakSocket?>(nil)
        let offLoop = Atomic<Int>(0)
        /// Text that makes the responder close with 4000 from inside the callback.
        let closeOn: String

        init(closeOn: String = "close please") { self.closeOn = closeOn }

        private func note(_ socket: WebSocket, _ entry: String) {
            if !socket.eventLoop.inEventLoop { offLoop.add(1, ordering: .relaxed) }
            log.withLock { $0.append(entry) }
        }

        func webSocketDidOpen(_ socket: WebSocket) {
            lastSocket.withLock { $0 = WeakSocket(socket) }
            note(socket, "open")
        }

        func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
            switch message {
            case .text(let text):
                note(socket, "text \(text)")
                if text == closeOn { return socket.beginClosing(code: WebSocketCloseCode(4000), reason: "asked") }
            case .binary(let bytes):
                note(socket, "binary \(bytes.count)")
            }
            _ = try? socket.sendWithoutWaiting(message)
        }

        func webSocketDidClose(_ socket: WebSocket, status: WebSocketCloseStatus) {
            note(socket, "closed \(status.code.rawValue) \(status.wasClean)")
        }

        var entries: [String] { log.withLock { $0 } }
    }

    /// Open, each message in order, then exactly one close with the peer's code; every call
    /// on the socket's loop; and the echoes come back in order.
    @Test func callbacksComeInOrderOnTheLoopAndEndWithOneClose() async throws {
        let recorder = Recorder()
        let (group, listener, serving) = try await Self.server(recorder)
        let loop = group.loops[1]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        let status = try await Task(executorPreference: loop) { () -> WebSocketCloseStatus in
            var iterator = socket.messages.makeAsyncIterator()
            for index in 0..<50 { try await socket.send(text: "m\(index)") }
            try await socket.send(binary: [UInt8](repeating: 7, count: 70_000))
            for index in 0..<50 { #expect(try await iterator.next() == .text("m\(index)")) }
            #expect(try await iterator.next() == .binary([UInt8](repeating: 7, count: 70_000)))
            return await socket.close(code: .goingAway, reason: "bye")
        }.value
        #expect(status.code == .goingAway && status.wasClean)
        for _ in 0..<500 where recorder.entries.last?.hasPrefix("closed") != true { try await Task.sleep(for: .milliseconds(10)) }
        let expected = ["open"] + (0..<50).map { "text m\($0)" } + ["binary 70000", "closed 1001 true"]
        #expect(recorder.entries == expected)
        #expect(recorder.offLoop.load(ordering: .relaxed) == 0)
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// Takes lent messages: logs which way each message came, echoes lent ones from the
    /// receive buffer, and tries once to send bytes that are not UTF-8 as text.
    final class Lending: WebSocketResponder, @unchecked Sendable {
        let log = Mutex<[String]>([])

        func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
            switch message {
            case .text(let text): log.withLock { $0.append("given text \(text.utf8.count)") }
            case .binary(let bytes): log.withLock { $0.append("given binary \(bytes.count)") }
            }
            _ = try? socket.sendWithoutWaiting(message)
        }

        func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {
            log.withLock { $0.append("lent \(kind) \(bytes.byteCount)") }
            if bytes.byteCount == 3, kind == .binary {
                let notUTF8: [UInt8] = [0xC3, 0x28]
                do {
                    try socket.sendWithoutWaiting(notUTF8.span.bytes, as: .text)
                    log.withLock { $0.append("sent invalid text") }
                } catch {
                    log.withLock { $0.append("refused: \(error)") }
                }
            }
            _ = try? socket.sendWithoutWaiting(bytes, as: kind)
        }

        var entries: [String] { log.withLock { $0 } }
    }

    /// A responder that takes lent messages gets each message once, in order: whole ones
    /// lent, compressed ones given as messages; its answers from the lent bytes arrive in
    /// order, with and without permessage-deflate on the connection; bytes that are not
    /// UTF-8 are refused as text and nothing is sent for them.
    @Test(arguments: [true, false])
    func wholeMessagesAreLentAndTheOthersGiven(deflate: Bool) async throws {
        let lending = Lending()
        let (group, listener, serving) = try await Self.server(lending)
        let loop = group.loops[1]
        var configuration = WebSocketClientConfiguration()
        configuration.deflate.isEnabled = deflate
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", configuration: configuration, on: loop)
        #expect(socket.isCompressed == deflate)
        let long = String(repeating: "é", count: 1000) // compressed when deflate is on
        let sent: [WebSocketMessage] = [.text("hi"), .binary([1, 2, 3]), .text(long), .binary([]), .text("ü")]
        try await Task(executorPreference: loop) {
            var iterator = socket.messages.makeAsyncIterator()
            for message in sent { try await socket.send(message) }
            for message in sent { #expect(try await iterator.next() == message) }
            _ = await socket.close()
        }.value
        for _ in 0..<500 where lending.entries.count < 6 { try await Task.sleep(for: .milliseconds(10)) }
        let longEntry = deflate ? "given text 2000" : "lent text 2000"
        #expect(lending.entries == ["lent text 2", "lent binary 3", "refused: a text message must be valid UTF-8",
                                    longEntry, "lent binary 0", "lent text 2"])
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A responder may close from inside a callback: the peer gets that code, and the close
    /// is reported once.
    @Test func aResponderClosesFromInsideACallback() async throws {
        let recorder = Recorder()
        let (group, listener, serving) = try await Self.server(recorder)
        let loop = group.loops[0]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        let outcome = try await Task(executorPreference: loop) { () -> WebSocketCloseStatus? in
            try await socket.send(text: "close please")
            do {
                for try await _ in socket.messages {}
                return nil
            } catch let error as WebSocketClosedError {
                return error.status
            }
        }.value
        #expect(outcome?.code.rawValue == 4000 && outcome?.reason == "asked")
        for _ in 0..<500 where recorder.entries.last?.hasPrefix("closed") != true { try await Task.sleep(for: .milliseconds(10)) }
        #expect(recorder.entries == ["open", "text close please", "closed 4000 true"])
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A peer that sends without reading its echoes: the server's outbound queue fills, the
    /// socket stops reading, and the sender's `send` suspends; once the peer reads, every
    /// echo arrives, in order. (Without the pause, the server would queue all 32 MiB and
    /// the sender would never stall.)
    @Test func aPeerThatDoesNotReadItsEchoesIsPushedBack() async throws {
        let (group, listener, serving) = try await Self.server(EchoResponder())
        let loop = group.loops[1]
        let total = 8192
        let flood = try await Flood.start(port: listener.localAddress.port, on: loop, count: total)
        try await Task.sleep(for: .seconds(1))
        let sentWhileNotReading = flood.sent
        let socket = flood.socket
        let inOrder = try await Task(executorPreference: loop) { () -> Bool in
            var expected = 0
            for try await message in socket.messages {
                guard Flood.index(of: message) == expected else { return false }
                expected += 1
                if expected == total { return true }
            }
            return false
        }.value
        await flood.task?.value
        #expect(!flood.failed)
        #expect(sentWhileNotReading < total, "the sender never felt the peer that did not read")
        #expect(inOrder)
        await flood.finish()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A responder socket has no `messages`: iterating them fails at once.
    @Test func iteratingTheMessagesOfAResponderSocketFails() async throws {
        let failure = Mutex<String?>(nil)
        struct Iterating: WebSocketResponder {
            let failure: @Sendable (String) -> Void
            func webSocketDidOpen(_ socket: WebSocket) {
                Task {
                    do { for try await _ in socket.messages {} } catch { failure("\(error)") }
                }
            }
            func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {}
        }
        let (group, listener, serving) = try await Self.server(Iterating { text in failure.withLock { $0 = text } })
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[0])
        for _ in 0..<500 where failure.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(failure.withLock { $0 }?.contains("responder") == true)
        await socket.close()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// Connections kept open with no task: cancelling `serve` closes them (the peers see
    /// 1006), each responder hears the close, and `serve` returns only after they closed.
    @Test func cancellingServeClosesTasklessConnections() async throws {
        let recorder = Recorder()
        let (group, listener, serving) = try await Self.server(recorder)
        var clients: [WebSocket] = []
        for _ in 0..<3 {
            clients.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[1]))
        }
        for _ in 0..<500 where recorder.entries.filter({ $0 == "open" }).count < 3 { try await Task.sleep(for: .milliseconds(10)) }
        serving.cancel()
        _ = try? await serving.value
        // `serve` returned after every responder heard its close, not merely the sockets'.
        #expect(recorder.entries.filter { $0.hasPrefix("closed 1006") }.count == 3)
        for client in clients { #expect(await client.close().code == .abnormalClosure) }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// With the listener closed but `serve` not cancelled, `serve` lasts as long as its
    /// task-less connections: it returns once the last one has closed.
    @Test func serveWaitsForTasklessConnectionsAfterTheListenerCloses() async throws {
        let (group, listener, serving) = try await Self.server(EchoResponder())
        let loop = group.loops[0]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        await listener.close()
        let served = Atomic<Bool>(false)
        let watcher = Task {
            _ = try? await serving.value
            served.store(true, ordering: .releasing)
        }
        // Still served: the echo works after the listener closed.
        try await Task(executorPreference: loop) {
            var iterator = socket.messages.makeAsyncIterator()
            try await socket.send(text: "still here")
            #expect(try await iterator.next() == .text("still here"))
        }.value
        let servedBeforeClose = served.load(ordering: .acquiring)
        #expect(!servedBeforeClose)
        #expect(await socket.close().code == .normalClosure)
        await watcher.value
        let servedAfterClose = served.load(ordering: .acquiring)
        #expect(servedAfterClose)
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// After echoing a 1 MB message, an idle responder socket does not keep the buffers
    /// the message needed.
    @Test func aLargeMessageLeavesNoLargeBuffersBehind() async throws {
        let recorder = Recorder()
        var big = WebSocketConfiguration()
        big.maxMessageSize = 2 << 20
        big.maxFrameSize = 2 << 20
        let (group, listener, serving) = try await Self.server(recorder, connection: big)
        let loop = group.loops[1]
        var configuration = WebSocketClientConfiguration()
        configuration.connection = big
        configuration.deflate.isEnabled = false
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", configuration: configuration, on: loop)
        let payload = [UInt8](repeating: 9, count: 1_000_000)
        try await Task(executorPreference: loop) {
            var iterator = socket.messages.makeAsyncIterator()
            try await socket.send(binary: payload)
            #expect(try await iterator.next() == .binary(payload))
        }.value
        let server = try #require(recorder.lastSocket.withLock { $0?.socket })
        let kept = try await server.eventLoop.submit { server.spareFrame.capacity }
        #expect(kept <= 4096, "kept \(kept) bytes of frame buffer")
        await socket.close()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A peer that sends but never reads its echoes stops the socket's reading, so
    /// keep-alive cannot judge it; after the pong timeout it is dropped (1011) instead of
    /// holding its queued echoes for ever.
    @Test func aPeerThatNeverReadsIsDroppedAfterThePongTimeout() async throws {
        let recorder = Recorder()
        var connection = WebSocketConfiguration()
        connection.keepAlive = WebSocketKeepAliveConfiguration(pingInterval: .milliseconds(200), pongTimeout: .milliseconds(300))
        let (group, listener, serving) = try await Self.server(recorder, connection: connection)
        let flood = try await Flood.start(port: listener.localAddress.port, on: group.loops[1], count: 16_384)
        for _ in 0..<500 where recorder.entries.last?.hasPrefix("closed") != true { try await Task.sleep(for: .milliseconds(10)) }
        #expect(recorder.entries.last == "closed 1011 false")
        #expect(try await flood.waitUntilFailed(), "the sender was never told the connection ended")
        await flood.finish()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }
}

/// A weak reference to a socket that can sit behind a `Mutex`.
final class WeakSocket: @unchecked Sendable {
    weak var socket: WebSocket?
    init(_ socket: WebSocket) { self.socket = socket }
}
