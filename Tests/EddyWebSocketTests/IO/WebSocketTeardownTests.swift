import EddyHTTP
import EddyLoop
import EddyNet
import EddyTestSupport
@testable import EddyWebSocket
import Glibc
import struct Synchronization.Atomic
import EddyShared
import Testing

/// How a connection ends, in the cases that are easy to get wrong: a reset seen by a send,
/// cancellation of the task that holds it or waits on it, and the closing handshake's TCP
/// close order. (Each test failed before the fix it guards.)
@Suite("WebSocket teardown: resets, cancellation, close order", .timeLimit(.minutes(3)))
struct WebSocketTeardownTests {
    /// A blocking raw socket: handshake, `frames` masked binary frames of `size` bytes, then
    /// an abortive close (RST, `SO_LINGER` 0). Runs on its own thread.
    static func rawClientThatResets(port: Int, frames: Int, size: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); return false }
        // A send blocked by a full window gives up after 2 s (then the reset goes out anyway).
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let text = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let request = Array(text.utf8)
        guard send(fd, request, request.count, 0) == request.count else { close(fd); return false }
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]), recv(fd, &byte, 1, 0) == 1 { head.append(byte) }
        // Masked binary frames with a zero key (the payload goes as is).
        var frame: [UInt8] = [0x82, 0xFE, UInt8(size >> 8), UInt8(size & 0xFF), 0, 0, 0, 0]
        frame += [UInt8](repeating: 0x42, count: size)
        for _ in 0..<frames { _ = send(fd, frame, frame.count, 0) }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        return head.count > 12
    }

    /// With reading paused (the handler does not consume), a peer's reset is seen first by
    /// a large send. The failed write feeds the protocol an EOF synchronously; that used to
    /// happen while the protocol was being mutated, which Swift's exclusivity check turns
    /// into a crash of the whole process. Now the send throws and the server goes on.
    @Test func aResetSeenByALargeSendClosesTheSocketWithoutCrashing() async throws {
        let outcome = Mutex<String?>(nil)
        let clientGone = Atomic<Bool>(false)
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            // Wait until the buffered messages have paused reading and the client has reset.
            for _ in 0..<500 where !(try await socket.eventLoop.submit { socket.receivingPaused }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            for _ in 0..<500 where !clientGone.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(100)) // for the reset to land
            do {
                for _ in 0..<20 { try await socket.send(binary: [UInt8](repeating: 1, count: 64 * 1024)) }
                outcome.withLock { $0 = "sent" }
            } catch let error as WebSocketClosedError {
                outcome.withLock { $0 = "closed \(error.status.code.rawValue)" }
            }
        }
        let port = listener.localAddress.port
        // 40 frames of 4,000 bytes: the socket takes two reads of 64 KiB, which is more than
        // it buffers for its consumer, and pauses; the kernel's buffers take the rest.
        let handshook = await onOwnThread { Self.rawClientThatResets(port: port, frames: 40, size: 4000) }
        clientGone.store(true, ordering: .releasing)
        #expect(handshook)
        for _ in 0..<500 where outcome.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(outcome.withLock { $0 } == "closed 1006")
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// `HTTPServer.handle` runs an upgraded connection in the calling task; cancelling that
    /// task closes the connection, so a handler parked in `messages` ends.
    @Test func handleInTheCallersTaskEndsParkedHandlersOnCancellation() async throws {
        let ended = Atomic<Int>(0)
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/ws", WebSocketRoute { socket in
            do { for try await _ in socket.messages {} } catch {}
            ended.add(1, ordering: .relaxed)
        })
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in await server.handle(connection) }
        }
        let client = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[0])
        try await Task.sleep(for: .milliseconds(100))
        serving.cancel()
        _ = try? await serving.value
        #expect(ended.load(ordering: .relaxed) == 1)
        _ = await client.close()
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// A consumer on another thread whose task is cancelled just as it starts to wait is
    /// resumed with `CancellationError`, whichever reaches the loop first: the park or
    /// the cancellation.
    @Test func aConsumerCancelledAsItParksIsAlwaysResumed() async throws {
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            do { for try await _ in socket.messages {} } catch {}
        }
        for _ in 0..<30 {
            let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[1])
            let consumer = Task.detached { () -> (any Error)? in
                do {
                    for try await _ in socket.messages {}
                    return nil
                } catch {
                    return error
                }
            }
            consumer.cancel()
            #expect(await consumer.value is CancellationError)
            _ = await socket.close()
        }
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// RFC 6455 §7.1.1: after the closing handshake the server closes TCP first; the client
    /// waits for it (up to its close timeout) instead of closing at once.
    @Test func theClientWaitsForTheServerToCloseTCP() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let clientClosedEarly = Atomic<Bool>(true) // until the server has watched
        // A hand-written server: the handshake, then it echoes the client's Close and keeps
        // TCP open for 300 ms, watching for the client's FIN, before closing.
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                var received: [UInt8] = []
                while !received.suffix(4).elementsEqual([13, 10, 13, 10]), let chunk = try await connection.read() { received += chunk }
                let head = String(decoding: received, as: UTF8.self)
                let key = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
                    .map { String($0.dropFirst("sec-websocket-key:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
                let accept = WebSocketAccept.acceptValue(forKey: key) ?? ""
                try await connection.write(Array(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(accept)\r\n\r\n").utf8))
                var frame: [UInt8] = []
                while frame.count < 8, let chunk = try await connection.read() { frame += chunk } // the client's Close: 2 + 4 key + 2 code
                try await connection.write([0x88, 0x02, 0x03, 0xE8]) // Close 1000
                do {
                    let early = try await connection.eventLoop.withTimeout(.milliseconds(300)) { try await connection.read() == nil }
                    clientClosedEarly.store(early, ordering: .relaxed)
                } catch {
                    clientClosedEarly.store(false, ordering: .relaxed) // 300 ms and the client still waits
                }
            }
        }
        var configuration = WebSocketClientConfiguration()
        configuration.deflate.isEnabled = false
        let client = try await WebSocket.connect(
            to: "ws://127.0.0.1:\(listener.localAddress.port)/", configuration: configuration, on: group.loops[0])
        let status = await client.close()
        #expect(status.code == .normalClosure && status.wasClean)
        #expect(clientClosedEarly.load(ordering: .relaxed) == false)
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// `WebSocket.close(_:code:reason:)` starts every closing handshake at once and returns
    /// once every socket has closed, each cleanly, with the code it was given.
    @Test(arguments: [EchoServerFixture.Echo.task, .responder])
    func closingManySocketsAtOnceEndsEachWithItsHandshake(echo: EchoServerFixture.Echo) async throws {
        let server = try await EchoServerFixture.start(echo: echo)
        let clients = try EventLoopGroup(loopCount: 2)
        var sockets: [WebSocket] = []
        for index in 0..<40 {
            sockets.append(try await WebSocket.connect(to: "\(server.baseURL)/default", on: clients.loops[index % 2]))
        }
        await WebSocket.close(sockets, code: .goingAway, reason: "bye")
        for socket in sockets {
            let status = await socket.waitUntilClosed() // at once: closed already
            #expect(status.code == .goingAway && status.wasClean, "\(status)")
        }
        _ = await clients.shutdown()
        #expect(await server.stop().allSatisfy { $0.isClean })
    }
}
