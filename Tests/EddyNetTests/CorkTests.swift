import EddyLoop
import EddyNet
import Testing

/// Writes made in one loop iteration go out together from the socket's cork: the first is
/// held by reference, later ones are copied into a buffer of the loop's pool, which goes
/// back to the pool after the flush (`WriteBufferPool`). What a receiver writes while it
/// handles a read is flushed as the read's callback returns.
@Suite("Corked writes", .timeLimit(.minutes(3)))
struct CorkTests {
    /// Distinct bytes for round `round`, connection `connection`, write `write`.
    static func bytes(_ round: Int, _ connection: Int, _ write: Int) -> [UInt8] {
        (0..<(8 + write * 5 + round % 7)).map { UInt8(truncatingIfNeeded: round &* 31 &+ connection &* 7 &+ write &* 13 &+ $0) }
    }

    @Test func severalWritesPerIterationArriveInOrderAndThePoolIsReusedThenFreed() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        var clients: [TCPConnection] = []
        var servers: [TCPConnection] = []
        var iterator = listener.connections.makeAsyncIterator()
        for _ in 0..<3 {
            clients.append(try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop))
            servers.append(try #require(try await iterator.next()))
        }
        let rounds = 40
        var expected = [[UInt8]](repeating: [], count: servers.count)
        let serverList = servers
        var lastWrites = ContinuousClock.now
        for round in 0..<rounds {
            // One shared buffer first on every socket (held by reference), then a burst of
            // three and a single write (copied into the pool's buffers), in one iteration.
            let shared = Self.bytes(round, -1, 0)
            let sharedCopy = shared
            for index in serverList.indices {
                expected[index] += shared
                expected[index] += Self.bytes(round, index, 1) + Self.bytes(round, index, 2) + Self.bytes(round, index, 3)
                expected[index] += Self.bytes(round, index, 4)
            }
            lastWrites = ContinuousClock.now
            try await loop.submit {
                for (index, server) in serverList.enumerated() {
                    _ = try server.writeWithoutWaiting(shared)
                    _ = try server.writeWithoutWaiting(contentsOf: [Self.bytes(round, index, 1), Self.bytes(round, index, 2), Self.bytes(round, index, 3)])
                    _ = try server.writeWithoutWaiting(Self.bytes(round, index, 4))
                }
            }
            #expect(shared == sharedCopy, "a caller's buffer is never written to")
        }
        for (index, client) in clients.enumerated() {
            let received = try await readExactly(expected[index].count, from: client)
            #expect(received == expected[index], "connection \(index)")
        }
        let held = try await loop.submit { loop.spareWriteBuffers }
        // The pool frees its buffers in the first iteration a second after its last take: on
        // a machine loaded enough to take that long to get here, they are already gone.
        if ContinuousClock.now - lastWrites < .milliseconds(900) {
            #expect(held.count >= 1 && held.count <= serverList.count, "the corks' buffers went back to the pool: \(held)")
        } else {
            #expect(held.count <= serverList.count)
        }
        // A second past the last take, an iteration with nothing corked frees the pool.
        try await Task.sleep(for: .milliseconds(1100))
        try await loop.submit {}
        let after = try await loop.submit { loop.spareWriteBuffers }
        #expect(after.count == 0 && after.bytes == 0)
        for connection in clients + servers { await connection.close() }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// Answers each read with a frame-like header and payload pair, then a plain write (so
    /// the cork is a buffer of the pool), and notes the most buffers the pool held when a
    /// read came in.
    final class PairEcho: ByteStreamReceiver, @unchecked Sendable {
        let connection: TCPConnection
        var mostSpareBuffers = 0
        init(_ connection: TCPConnection) { self.connection = connection }
        func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
            mostSpareBuffers = max(mostSpareBuffers, connection.eventLoop.spareWriteBuffers.count)
            let header: [UInt8] = [0xAB, UInt8(truncatingIfNeeded: bytes.count)], payload = Array(bytes)
            _ = try? connection.writeWithoutWaiting(header.span.bytes, payload.span.bytes)
            _ = try? connection.writeWithoutWaiting(payload)
        }
        func streamDidEnd(_ error: (any Error)?) {}
    }

    /// What a receiver writes while it handles a read leaves as the read's callback returns,
    /// not at the end of the loop iteration: one write call per read, every byte in order,
    /// and the cork's buffer is back in the pool before the next connection's read, so that
    /// however many connections read in one iteration, they all reuse one buffer.
    @Test func writesMadeWhileHandlingAReadLeaveAsTheReadEnds() async throws {
        let group = try EventLoopGroup(loopCount: 1), clientGroup = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0], clientLoop = clientGroup.loops[0]
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        var iterator = listener.connections.makeAsyncIterator()
        var clients: [TCPConnection] = []
        var echoes: [PairEcho] = []
        for _ in 0..<4 {
            clients.append(try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: clientLoop))
            let server = try #require(try await iterator.next())
            let echo = PairEcho(server)
            try await loop.submit { server.startReceiving(echo) }
            echoes.append(echo)
        }
        let clientList = clients
        for round in 0..<50 {
            // Every client writes in one job of its loop: the server's loop mostly finds
            // several of them readable in the same iteration.
            let messages = clientList.indices.map { index in Self.bytes(round, index, 1) }
            try await clientLoop.submit {
                for (client, message) in zip(clientList, messages) { _ = try client.writeWithoutWaiting(message) }
            }
            for (client, message) in zip(clientList, messages) {
                let expected = [0xAB, UInt8(message.count)] + message + message
                #expect(try await readExactly(expected.count, from: client) == expected, "round \(round)")
            }
        }
        let echoList = echoes
        let (most, spare) = try await loop.submit { (echoList.map(\.mostSpareBuffers).max() ?? 0, loop.spareWriteBuffers.count) }
        #expect(most <= 1 && spare <= 1, "one cork buffer served every read: \(most), \(spare)")
        for echo in echoes {
            let counters = await echo.connection.counters()
            #expect(counters.writeCalls == counters.reads, "one write call per read")
            #expect(counters.bytesWritten == counters.bytesRead * 2 + counters.reads * 2)
        }
        for connection in clients + echoes.map(\.connection) { await connection.close() }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
        #expect(await clientGroup.shutdown().allSatisfy { $0.isClean })
    }

    /// While libuv's write queue holds bytes the kernel refused, later writes (corked small
    /// ones and large ones written at once) go behind them, and once it has drained they go
    /// straight to the kernel again: every byte arrives, in order, and the connection counts
    /// what libuv holds (it reads the queue's size from the handle only while a write request
    /// is outstanding; libuv's `uv_try_write` itself refuses to pass a non-empty queue). Every
    /// other write is a header and payload pair (`writeWithoutWaiting(_:_:)`).
    @Test func writesBehindLibuvsQueueKeepTheirOrder() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var configuration = TCPConfiguration()
        configuration.unsentLimit = 16 * 1024 // the kernel refuses early: libuv queues the rest
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration)
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.loops[1])
        var iterator = listener.connections.makeAsyncIterator()
        let server = try #require(try await iterator.next())
        let sizes = [100, 20_000, 7, 3_000, 70_000, 1, 16_383, 16_384, 500]
        var expected: [UInt8] = []
        for phase in 0..<2 {
            // Phase 0 fills libuv's queue (the client reads nothing yet); phase 1 runs after
            // the client has read everything, so the queue has drained.
            for round in 0..<40 {
                let chunks = sizes.enumerated().map { index, size in
                    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &* 31 &+ round &* 3 &+ phase) }
                }
                for chunk in chunks { expected += chunk }
                _ = try await server.eventLoop.submit {
                    for (index, chunk) in chunks.enumerated() {
                        if index % 2 == 0 {
                            _ = try server.writeWithoutWaiting(chunk)
                        } else {
                            // A header and its payload (a WebSocket frame's write): the same
                            // order, small ones corked, large ones written at once.
                            let split = min(10, chunk.count)
                            let header = Array(chunk[..<split]), payload = Array(chunk[split...])
                            _ = try server.writeWithoutWaiting(header.span.bytes, payload.span.bytes)
                        }
                    }
                }
            }
            if phase == 0 {
                #expect(await server.counters().outboundQueued > 0, "libuv holds part of the writes")
            }
            let received = try await readExactly(expected.count, from: client)
            #expect(received == expected, "phase \(phase)")
            expected = []
        }
        #expect(await server.counters().outboundQueued == 0)
        await client.close()
        await server.close()
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// A header and payload pair is refused, as any write, once the connection is shut for
    /// writing, and what was written before it arrives whole.
    @Test func aHeaderAndPayloadPairAfterShutdownWriteIsRefused() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.loops[0])
        var iterator = listener.connections.makeAsyncIterator()
        let server = try #require(try await iterator.next())
        let header: [UInt8] = [0x82, 3], payload: [UInt8] = [1, 2, 3]
        _ = try await server.eventLoop.submit { try server.writeWithoutWaiting(header.span.bytes, payload.span.bytes) }
        try await server.shutdownWrite()
        await #expect(throws: IOError.self) {
            _ = try await server.eventLoop.submit { try server.writeWithoutWaiting(header.span.bytes, payload.span.bytes) }
        }
        #expect(try await readExactly(5, from: client) == header + payload)
        await client.close()
        await server.close()
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }
}
