import EddyLoop
import EddyNet
import EddyShared
import EddyTestSupport
import Testing

@Suite("TCP failures, cancellation and shutdown", .timeLimit(.minutes(3)))
struct TCPFailureTests {
    @Test func connectRefused() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let refusing = try RefusingLoopbackPort()
        let error = await #expect(throws: IOError.self) {
            _ = try await TCPConnection.connect(host: "127.0.0.1", port: refusing.port, on: group.loops[0])
        }
        withExtendedLifetime(refusing) {}
        #expect(error?.code == .connectionRefused)
        #expect(error?.name == "ECONNREFUSED")
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func addressInUse() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let first = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let error = await #expect(throws: IOError.self) {
            _ = try await TCPListener.bind(host: "127.0.0.1", port: first.localAddress.port, group: group)
        }
        #expect(error?.code == .addressInUse)
        #expect(error?.name == "EADDRINUSE")
        await first.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func unknownHostFailsResolution() async throws {
        let loop = try EventLoop()
        let error = await #expect(throws: IOError.self) {
            _ = try await TCPConnection.connect(host: "no-such-host.invalid", port: 80, on: loop, timeout: .seconds(20))
        }
        #expect(error?.name.hasPrefix("EAI_") == true)
        #expect(await loop.shutdown().isClean)
    }

    @Test func connectTimesOut() async throws {
        // A listener whose backlog is full and never accepted: SYNs go unanswered.
        let loop = try EventLoop()
        // 192.0.2.0/24 (TEST-NET-1) would leave the machine; use a full local backlog instead.
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, backlog: 1, group: group, maxPendingConnections: 1)
        var held: [TCPConnection] = []
        var timedOut: IOError?
        for _ in 0..<64 {
            do {
                held.append(try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop, timeout: .milliseconds(300)))
            } catch let error as IOError {
                timedOut = error
                break
            }
        }
        #expect(timedOut?.code == .timedOut)
        for connection in held { await connection.close() }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
        #expect(await loop.shutdown().isClean)
    }

    /// Runs `body` with a client whose server side has closed with unread bytes in its
    /// receive buffer, so that the kernel answered RST; then closes everything cleanly.
    static func withResetPeer(_ body: (TCPConnection, EventLoop) async throws -> Void) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let written = Mutex(false)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                // Close with unread bytes in the receive buffer: the kernel answers RST.
                // Wait (bounded: 2 minutes, for a test task that a loaded machine keeps from
                // running for long) until the client's write has returned: on loopback the
                // bytes are then in this socket's receive buffer.
                for _ in 0..<24_000 where !written.withLock({ $0 }) {
                    try await connection.eventLoop.sleep(for: .milliseconds(5))
                }
            }
        }
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.loops[0])
        try await client.write([UInt8](repeating: 7, count: 100))
        written.withLock { $0 = true }
        try await body(client, group.loops[0])
        await client.close()
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func peerResetIsReportedAsECONNRESET() async throws {
        try await Self.withResetPeer { client, _ in
            let error = await #expect(throws: IOError.self) {
                for try await _ in client.inbound {}
            }
            #expect(error?.code == .connectionReset)
        }
    }

    @Test func writingToAPeerThatResetFailsWithTheKernelsErrorAndCloses() async throws {
        try await Self.withResetPeer { client, loop in
            // Writes succeed until the RST has arrived (bounded: 2,000 × 5 ms), then fail with
            // what send(2) said, and the connection is closed.
            var failure: IOError?
            for _ in 0..<2_000 where failure == nil {
                do {
                    try await client.write([1, 2, 3])
                    try await loop.sleep(for: .milliseconds(5))
                } catch let error as IOError {
                    failure = error
                }
            }
            #expect(failure?.code == .connectionReset || failure?.code == .brokenPipe, "\(String(describing: failure))")
            let after = await #expect(throws: IOError.self) { try await client.write([4]) }
            #expect(after != nil)
        }
    }

    @Test func cancellingABlockedReadClosesTheConnection() async throws {
        let server = try await EchoServer.start(loops: 1)
        let loop = server.group.loops[0]
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: server.port, on: loop)
        let reader = Task(executorPreference: loop) {
            for try await _ in client.inbound {}
        }
        try await loop.sleep(for: .milliseconds(20))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
        let error = await #expect(throws: (any Error).self) { try await client.write([1]) }
        #expect(error is CancellationError || (error as? IOError)?.code == .closed)
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }

    @Test func cancellingABlockedWriteClosesTheConnection() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.loops[0])
        // Nobody reads on the server side: the writer must eventually suspend.
        let writer = Task(executorPreference: group.loops[0]) {
            let chunk = [UInt8](repeating: 0, count: 256 * 1024)
            for _ in 0..<1_000 { try await client.write(chunk) }
        }
        var suspended = false
        for _ in 0..<500 where !suspended {
            try await group.loops[0].sleep(for: .milliseconds(10))
            suspended = await client.counters().writerSuspensions > 0
        }
        #expect(suspended)
        writer.cancel()
        await #expect(throws: CancellationError.self) { try await writer.value }
        await listener.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func shutdownWithLiveConnectionsFailsEveryWaiterOnce() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                for try await chunk in connection.inbound { try await connection.write(chunk) }
            }
        }
        var readers: [Task<IOError.Code?, Never>] = []
        for i in 0..<20 {
            let loop = group.loops[i % 2]
            let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop)
            readers.append(Task(executorPreference: loop) {
                do {
                    for try await _ in client.inbound {}
                    return nil
                } catch let error as IOError {
                    return error.code
                } catch {
                    return nil
                }
            })
        }
        try await group.loops[0].sleep(for: .milliseconds(50))
        let reports = await group.shutdown()
        #expect(reports.allSatisfy { $0.isClean })
        for reader in readers {
            #expect(await reader.value == .eventLoopShutdown)
        }
        _ = try? await serving.value
    }

    @Test func writingToAClosedPeerIsAnErrorNotSIGPIPE() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { _ in } // accept and close at once
        }
        let loop = group.loops[0]
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: loop)
        let error = try await Task(executorPreference: loop) { () -> IOError? in
            while try await client.read() != nil {} // the server's FIN
            let chunk = [UInt8](repeating: 1, count: 64 * 1024)
            for _ in 0..<200 {
                do { try await client.write(chunk); try await loop.sleep(for: .milliseconds(1)) } catch let error as IOError { return error }
            }
            return nil
        }.value
        // Without SIGPIPE ignored the test process would have died here.
        #expect(error?.code == .brokenPipe || error?.code == .connectionReset || error?.code == .closed, "\(String(describing: error))")
        await client.close()
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// A read from a thread that is not the loop's, in a task cancelled as it starts: the
    /// park and the cancellation reach the loop in either order, and the read always ends
    /// with `CancellationError` (before, a cancellation that arrived first was lost and
    /// the read waited for data).
    @Test func aReadCancelledAsItParksFromAnotherThreadAlwaysEnds() async throws {
        let server = try await EchoServer.start()
        for _ in 0..<30 {
            let client = try await TCPConnection.connect(host: "127.0.0.1", port: server.port, on: server.group.next())
            let reading = Task.detached { () -> (any Error)? in
                do {
                    _ = try await client.read()
                    return nil
                } catch {
                    return error
                }
            }
            reading.cancel()
            #expect(await reading.value is CancellationError)
            await client.close()
        }
        #expect(try await server.stop().allSatisfy { $0.isClean })
    }
}
