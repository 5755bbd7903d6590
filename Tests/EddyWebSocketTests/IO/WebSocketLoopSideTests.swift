import EddyTestSupport
import EddyHTTP
import EddyLoop
import EddyNet
@testable import EddyWebSocket
import struct Synchronization.Atomic
import EddyShared
import Testing

/// The loop-confined core of `WebSocket`: receiving is pushed by the transport, so the
/// consumer's pace, its task's executor and its cancellation are what these check.
@Suite("WebSocket loop side: backpressure, any caller, cancellation", .timeLimit(.minutes(3)))
struct WebSocketLoopSideTests {
    /// A handler that does not read makes the server stop reading: at most
    /// `bufferedMessageBytes` (plus one read) wait in the socket, the sender's `send`
    /// suspends, and once the handler reads, every message arrives, in order.
    @Test func aConsumerThatStopsReadingPushesBackOnTheSender() async throws {
        let total = 8192
        let release = Atomic<Bool>(false)
        let bufferedWhileStalled = Atomic<Int>(-1)
        let received = Atomic<Int>(0)
        let inOrder = Atomic<Bool>(true)
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            for _ in 0..<1000 where !release.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
            bufferedWhileStalled.store(try await socket.eventLoop.submit { socket.bufferedBytes }, ordering: .releasing)
            var expected = 0
            for try await message in socket.messages {
                guard let index = Flood.index(of: message) else { continue }
                if index != expected { inOrder.store(false, ordering: .relaxed) }
                expected += 1
                received.store(expected, ordering: .releasing)
                if expected == total { break }
            }
        }
        let flood = try await Flood.start(port: listener.localAddress.port, on: group.loops[1], count: total)
        try await Task.sleep(for: .seconds(1))
        let sentWhileStalled = flood.sent
        release.store(true, ordering: .releasing)
        await flood.task?.value
        #expect(!flood.failed)
        for _ in 0..<1000 where received.load(ordering: .acquiring) < total { try await Task.sleep(for: .milliseconds(10)) }
        #expect(sentWhileStalled < total, "the sender never felt the stalled reader")
        let buffered = bufferedWhileStalled.load(ordering: .acquiring)
        #expect(buffered >= 0 && buffered <= WebSocket.bufferedMessageBytes + 64 * 1024)
        #expect(received.load(ordering: .acquiring) == total)
        let ordered = inOrder.load(ordering: .relaxed)
        #expect(ordered)
        await flood.finish()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A peer that sends but never reads: the handler's `send` waits for a drain that never
    /// comes and its unread messages pause reading, so keep-alive cannot judge the peer.
    /// After the pong timeout the peer is dropped: the handler's `send` throws (1011) and
    /// the peer's sends fail, instead of both waiting for ever.
    @Test func aPeerThatNeverReadsIsDroppedAfterThePongTimeout() async throws {
        let handlerEnd = Mutex<WebSocketCloseStatus?>(nil)
        let keepAlive = WebSocketKeepAliveConfiguration(pingInterval: .milliseconds(200), pongTimeout: .milliseconds(300))
        let (group, listener, serving) = try await WebSocketConnectionTests.server(keepAlive: keepAlive) { socket, _ in
            do {
                for try await message in socket.messages { try await socket.send(message) }
            } catch let error as WebSocketClosedError {
                handlerEnd.withLock { $0 = error.status }
            }
        }
        let flood = try await Flood.start(port: listener.localAddress.port, on: group.loops[1], count: 16_384)
        for _ in 0..<500 where handlerEnd.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        let end = handlerEnd.withLock { $0 }
        #expect(end?.code == .internalError && end?.reason == "peer stopped reading")
        #expect(try await flood.waitUntilFailed(), "the sender was never told the connection ended")
        await flood.finish()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A task's `sendWithoutWaiting` that backs the queue up, followed by
    /// `waitUntilWritable`, is a wait like `send`'s: once the peer has drained the queue the
    /// socket is no longer waiting for a drain. (It used to stay marked as waiting, so
    /// keep-alive counted stalled ticks and, after the pong timeout, dropped a peer that read
    /// everything, with 1011 "peer stopped reading".)
    @Test func aDrainedSendWithoutWaitingLeavesNoWaitBehind() async throws {
        let observed = Mutex<(backedUp: Bool, waitingBeforeTheWait: Bool, waitingAfterTheDrain: Bool)?>(nil)
        let size = 4 << 20 // far above what the write watermark and the kernel take at once
        var random = SplitMix64(seed: 5)
        let payload = random.bytes(size) // incompressible
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            let big = WebSocketMessage.binary(payload)
            let (backedUp, waitingBefore) = try await socket.eventLoop.submit { () throws -> (Bool, Bool) in
                let backedUp = try !socket.sendWithoutWaiting(big)
                return (backedUp, socket.state.flow.waitsForDrain)
            }
            try await socket.waitUntilWritable()
            let waitingAfter = try await socket.eventLoop.submit { socket.state.flow.waitsForDrain }
            observed.withLock { $0 = (backedUp, waitingBefore, waitingAfter) }
            for try await message in socket.messages { try await socket.send(message) }
        }
        var configuration = WebSocketClientConfiguration()
        configuration.connection.maxMessageSize = 2 * size
        configuration.connection.maxFrameSize = 2 * size
        let client = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", configuration: configuration, on: group.loops[1])
        var messages = client.messages.makeAsyncIterator()
        #expect(try await messages.next() == .binary(payload))
        for _ in 0..<1000 where observed.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        let seen = try #require(observed.withLock { $0 })
        #expect(seen.backedUp, "the test needs the send to back up")
        #expect(!seen.waitingBeforeTheWait, "sendWithoutWaiting waits for nothing")
        #expect(!seen.waitingAfterTheDrain, "the drain ended the wait")
        await client.close()
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// Every method works from a task that does not prefer the socket's loop (the global
    /// executor): each call hops to the loop and is resumed with its result.
    @Test func aTaskOnTheGlobalExecutorCanUseTheSocket() async throws {
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            for try await message in socket.messages { try await socket.send(message) }
        }
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[0])
        let status = try await Task.detached { () -> WebSocketCloseStatus in
            var iterator = socket.messages.makeAsyncIterator()
            for index in 0..<200 {
                try await socket.send(text: "message \(index)")
                #expect(try await iterator.next() == .text("message \(index)"))
            }
            try await socket.ping([1, 2, 3])
            return await socket.close(code: .goingAway, reason: "done")
        }.value
        #expect(status.code == .goingAway && status.wasClean)
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// A route handler parked in `messages` installs no cancellation handler of its own
    /// (see `TCPListener.serveHandingOver`): cancelling `serve` closes its connection, which
    /// ends the handler, and `serve` returns.
    @Test func cancellingServeEndsParkedRouteHandlers() async throws {
        let started = Atomic<Int>(0)
        let ended = Atomic<Int>(0)
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            started.add(1, ordering: .relaxed)
            do { for try await _ in socket.messages {} } catch {}
            ended.add(1, ordering: .relaxed)
        }
        var clients: [WebSocket] = []
        for _ in 0..<3 {
            clients.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: group.loops[1]))
        }
        for _ in 0..<500 where started.load(ordering: .relaxed) < 3 { try await Task.sleep(for: .milliseconds(10)) }
        serving.cancel()
        _ = try? await serving.value // returns only once every handler has ended
        #expect(ended.load(ordering: .relaxed) == 3)
        for client in clients { #expect(await client.close().code == .abnormalClosure) }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// Cancelling the task parked in `messages` resumes it with `CancellationError` and
    /// drops the connection; the peer sees an abnormal end (1006).
    @Test func cancellingAParkedConsumerDropsTheConnection() async throws {
        let serverEnd = Mutex<WebSocketCloseStatus?>(nil)
        let (group, listener, serving) = try await WebSocketConnectionTests.server { socket, _ in
            do {
                for try await _ in socket.messages {}
            } catch let error as WebSocketClosedError {
                serverEnd.withLock { $0 = error.status }
            }
        }
        let loop = group.loops[1]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/ws", on: loop)
        let consumer = Task(executorPreference: loop) { () -> (any Error)? in
            do {
                for try await _ in socket.messages {}
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        consumer.cancel()
        let error = await consumer.value
        #expect(error is CancellationError)
        for _ in 0..<500 where serverEnd.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(serverEnd.withLock { $0 }?.code == .abnormalClosure)
        #expect(await socket.close().code == .abnormalClosure)
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }
}

/// Keep-alive runs on one ticker per loop for all its sockets.
@Suite("WebSocket keep-alive ticker", .timeLimit(.minutes(3)))
struct KeepAliveTickerTests {
    /// Eight raw clients on one server loop never answer pings: their pong timeouts expire
    /// in the same tick, and each socket leaves the ticker while it iterates. Every one gets
    /// a ping, then a Close with 1011, and the loop shuts down with no timer left open.
    @Test func socketsLeavingDuringOneTickAreAllClosedAndTheTimerStops() async throws {
        let keepAlive = WebSocketKeepAliveConfiguration(pingInterval: .milliseconds(50), pongTimeout: .milliseconds(100))
        var connection = WebSocketConfiguration()
        connection.keepAlive = keepAlive
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/ws", WebSocketRoute(endpoint: WebSocketEndpoint(connection: connection)) { socket in
            do { for try await _ in socket.messages {} } catch {}
        })
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        var clients: [RawHTTPClient] = []
        for _ in 0..<8 {
            var client = try await RawHTTPClient.connect(port: listener.localAddress.port, loop: group.loops[0])
            try await client.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            #expect(try await client.response()?.status == 101)
            clients.append(client)
        }
        for client in clients {
            var bytes = client.buffer
            while let chunk = try? await client.connection.read() { bytes += chunk } // until the server closes
            let opcodes = WebSocketConnectionTests.opcodes(in: bytes)
            #expect(opcodes.first == 0x9 && opcodes.last == 0x8, "a ping, then a close: \(opcodes)")
            #expect(WebSocketConnectionTests.closeCode(in: bytes) == 1011)
            await client.connection.close()
        }
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }
}
