import EddyLoop
import EddyNet
import EddyShared
import Testing

@Suite("TCP connections on loopback", .timeLimit(.minutes(3)))
struct TCPConnectionTests {
    @Test func echoRoundTrip() async throws {
        let server = try await EchoServer.start()
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: server.port, on: server.group.next())
        try await client.write(Array("hello, eddy".utf8))
        let echoed = try await readExactly(11, from: client)
        #expect(String(decoding: echoed, as: UTF8.self) == "hello, eddy")
        #expect(client.remoteAddress?.port == server.port)
        await client.close()
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func hundredThousandSmallMessagesArriveCompleteAndInOrder() async throws {
        let server = try await EchoServer.start()
        let loop = server.group.next()
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: server.port, on: loop)
        let count = 100_000
        let writer = Task(executorPreference: loop) {
            for i in 0..<count {
                try await client.write(withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) })
            }
        }
        var next: UInt64 = 0
        var carry: [UInt8] = []
        for try await chunk in client.inbound {
            carry += chunk
            var offset = 0
            while carry.count - offset >= 8 {
                let value = carry[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                #expect(value == next)
                if value != next { break }
                next += 1
                offset += 8
            }
            carry.removeFirst(offset)
            if next == UInt64(count) { break }
        }
        try await writer.value
        #expect(next == UInt64(count))
        await client.close()
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func slowReaderPushesBackWithoutExceedingTheWatermark() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var configuration = TCPConfiguration()
        configuration.readHighWatermark = 128 * 1024
        configuration.readLowWatermark = 32 * 1024
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration)
        let total = 64 * 1024 * 1024
        let serverSide = Task { () -> (Int, TCPCounters) in
            var iterator = listener.connections.makeAsyncIterator()
            guard let connection = try await iterator.next() else { return (0, TCPCounters()) }
            return try await Task(executorPreference: connection.eventLoop) { () -> (Int, TCPCounters) in
                var received = 0
                for try await chunk in connection.inbound {
                    received += chunk.count
                    try await connection.eventLoop.sleep(for: .milliseconds(1)) // a slow consumer
                }
                let counters = await connection.counters()
                await connection.close()
                return (received, counters)
            }.value
        }
        let loop = group.loops[1]
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop)
        let chunk = [UInt8](repeating: 0xAB, count: 64 * 1024)
        try await Task(executorPreference: loop) {
            for _ in 0..<(total / chunk.count) { try await client.write(chunk) }
            try await client.shutdownWrite()
        }.value
        let clientCounters = await client.counters()
        let (received, serverCounters) = try await serverSide.value
        #expect(received == total)
        #expect(serverCounters.inboundBufferedHighWaterMark <= configuration.readHighWatermark)
        #expect(serverCounters.inboundBufferedHighWaterMark > 0)
        #expect(serverCounters.readPauses > 0)
        #expect(clientCounters.writerSuspensions > 0)
        #expect(clientCounters.outboundQueuedHighWaterMark > TCPConfiguration().writeHighWatermark)
        #expect(clientCounters.bytesWritten == total)
        await client.close()
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// A peer that stops reading: what it has not taken waits in Eddy's queue (where the
    /// watermarks and deadlines see it), not in megabytes of kernel buffer
    /// (`unsentLimit`, TCP_NOTSENT_LOWAT).
    @Test(arguments: [16 * 1024, TCPConfiguration().unsentLimit])
    func aPeerThatStopsReadingLeavesItsBacklogInEddysQueue(unsentLimit: Int?) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var configuration = TCPConfiguration()
        configuration.unsentLimit = unsentLimit
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration)
        var clientConfiguration = TCPConfiguration()
        clientConfiguration.readHighWatermark = 16 * 1024 // reads 16 KiB, then stops
        clientConfiguration.readLowWatermark = 4 * 1024
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port,
                                                     on: group.loops[1], configuration: clientConfiguration)
        var iterator = listener.connections.makeAsyncIterator()
        let server = try #require(try await iterator.next())
        let total = 8 * 1024 * 1024
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        try await server.eventLoop.submit {
            for _ in 0..<(total / chunk.count) { _ = try server.writeWithoutWaiting(chunk) }
        }
        try await server.eventLoop.sleep(for: .milliseconds(300)) // the kernel takes what it will
        _ = try await server.eventLoop.submit { try server.writeWithoutWaiting([]) } // refreshes the count
        let queued = await server.counters().outboundQueued
        // Without a limit Linux takes about 4 MB here (3.9 MB measured).
        #expect(unsentLimit != nil)
        #expect(total - queued < 1024 * 1024, "the kernel took \(total - queued) bytes")
        await client.close()
        await server.close()
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func thousandConcurrentConnectionsSpreadAcrossTwoLoops() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let perLoop = Mutex<[Int: Int]>([:])
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                perLoop.withLock { $0[connection.eventLoop.index, default: 0] += 1 }
                for try await chunk in connection.inbound { try await connection.write(chunk) }
            }
        }
        let clients = try EventLoopGroup(loopCount: 2)
        let port = listener.localAddress.port
        let echoed = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            for i in 0..<1_000 {
                let loop = clients.next()
                tasks.addTask(executorPreference: loop) {
                    let connection = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
                    let message = Array("connection \(i)".utf8)
                    try await connection.write(message)
                    let reply = try await readExactly(message.count, from: connection)
                    await connection.close()
                    return reply == message
                }
            }
            var ok = 0
            for try await result in tasks where result { ok += 1 }
            return ok
        }
        #expect(echoed == 1_000)
        #expect(listener.acceptedCount == 1_000)
        let distribution = perLoop.withLock { $0 }
        #expect(distribution == [0: 500, 1: 500])
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func halfCloseLetsThePeerFinishReading() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                var total = 0
                for try await chunk in connection.inbound { total += chunk.count } // until FIN
                try await connection.write(Array("got \(total)".utf8))
            }
        }
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.loops[0])
        try await client.write([UInt8](repeating: 1, count: 1000))
        try await client.shutdownWrite()
        await #expect(throws: IOError.self) { try await client.write([1]) }
        var reply: [UInt8] = []
        for try await chunk in client.inbound { reply += chunk } // ends when the server closes
        #expect(String(decoding: reply, as: UTF8.self) == "got 1000")
        await client.close()
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func ipv6AndHostNames() async throws {
        let server = try await EchoServer.start(loops: 1, host: "::1")
        #expect(server.listener.localAddress.family == .ipv6)
        let client = try await TCPConnection.connect(host: "::1", port: server.port, on: server.group.loops[0])
        try await client.write([1, 2, 3])
        #expect(try await readExactly(3, from: client) == [1, 2, 3])
        await client.close()
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func connectByHostName() async throws {
        // "localhost" may resolve to ::1 before 127.0.0.1: the refused address is skipped.
        let server = try await EchoServer.start(loops: 1, host: "127.0.0.1")
        let byName = try await TCPConnection.connect(host: "localhost", port: server.port, on: server.group.loops[0])
        try await byName.write([4])
        #expect(try await readExactly(1, from: byName) == [4])
        await byName.close()
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func concurrentReadsAreRefusedButSequentialIteratorsWork() async throws {
        let server = try await EchoServer.start(loops: 1)
        let loop = server.group.loops[0]
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: server.port, on: loop)
        let first = Task(executorPreference: loop) { () -> [UInt8]? in
            var iterator = client.inbound.makeAsyncIterator()
            return try await iterator.next()
        }
        try await loop.sleep(for: .milliseconds(20)) // the first read is now pending
        var second = client.inbound.makeAsyncIterator()
        let error = await #expect(throws: IOError.self) { _ = try await second.next() }
        #expect(error?.code == .readInProgress)
        try await client.write([9])
        #expect(try await first.value == [9])
        try await client.write([10])
        var third = client.inbound.makeAsyncIterator()  // a later iterator continues the stream
        #expect(try await third.next() == [10])
        await client.close()
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }
}
