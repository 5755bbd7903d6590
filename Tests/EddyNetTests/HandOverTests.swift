import EddyLoop
import EddyNet
import Synchronization
import Testing

/// `TCPListener.serveHandingOver`: a connection's second phase runs in a fresh task that
/// owns the connection.
@Suite("Listener hand-over to a fresh task", .timeLimit(.minutes(2)))
struct HandOverTests {
    /// The first phase reads one byte and answers "1"; the hand-over body echoes until EOF,
    /// then the connection is closed for it.
    @Test func handedOverConnectionIsServedByTheBodyAndClosedAfterIt() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let bodiesFinished = Atomic<Int>(0)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serveHandingOver { connection in
                guard try await readExactly(1, from: connection) == [0x68] else { return .close }
                try await connection.write(Array("1".utf8))
                return .handOver {
                    do {
                        for try await chunk in connection.inbound { try await connection.write(chunk) }
                    } catch {}
                    bodiesFinished.add(1, ordering: .relaxed)
                }
            }
        }
        for _ in 0..<3 {
            let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.next())
            try await client.write(Array("h".utf8))
            #expect(try await readExactly(1, from: client) == Array("1".utf8))
            try await client.write(Array("echo me".utf8))
            #expect(try await readExactly(7, from: client) == Array("echo me".utf8))
            try await client.shutdownWrite()
            // The body ends at EOF and the listener closes the connection: we read EOF.
            #expect(try await client.read() == nil)
            await client.close()
        }
        #expect(bodiesFinished.load(ordering: .relaxed) == 3)
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// Cancelling `serve` cancels what runs for its connections, handlers still running
    /// (nothing handed over yet) and handed-over bodies alike, and `serve` waits for them,
    /// as it would for a task group's children.
    @Test(arguments: [false, true])
    func cancellingServeCancelsAndAwaitsWhatRunsForItsConnections(handedOver: Bool) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        @Sendable func waitForCancellation(_ connection: TCPConnection) async {
            started.add(1, ordering: .relaxed)
            // Waits for bytes that never come, until cancelled.
            _ = try? await connection.read()
            if Task.isCancelled { cancelled.add(1, ordering: .relaxed) }
        }
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serveHandingOver { connection in
                guard handedOver else {
                    await waitForCancellation(connection)
                    return .close
                }
                return .handOver { await waitForCancellation(connection) }
            }
        }
        var clients: [TCPConnection] = []
        for _ in 0..<4 {
            clients.append(try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.next()))
        }
        // Bounded at 2 minutes: a loaded machine may keep the handlers from starting for long.
        for _ in 0..<12_000 where started.load(ordering: .relaxed) < 4 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(started.load(ordering: .relaxed) == 4)
        serving.cancel()
        _ = try? await serving.value
        #expect(cancelled.load(ordering: .relaxed) == 4)
        for client in clients {
            #expect(try await client.read() == nil) // closed by the server after the handler or body
            await client.close()
        }
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// A hand-over that arrives after the listener closed (the accepting task no longer
    /// takes work) runs in the handler's own task instead: exactly once, still awaited.
    @Test func handOverAfterTheListenerClosedRunsInTheHandlersTask() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let bodies = Atomic<Int>(0)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serveHandingOver { connection in
                _ = try await readExactly(1, from: connection) // held here until the listener closed
                return .handOver {
                    bodies.add(1, ordering: .relaxed)
                    try? await connection.write(Array("late".utf8))
                }
            }
        }
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.next())
        for _ in 0..<200 where listener.acceptedCount < 1 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(50)) // let serve take the connection
        await listener.close()
        try await client.write([0x21])
        #expect(try await readExactly(4, from: client) == Array("late".utf8))
        #expect(try await client.read() == nil)
        _ = try? await serving.value // returns once the handler's task finished the body
        #expect(bodies.load(ordering: .relaxed) == 1)
        await client.close()
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    /// Echoes on the loop from `streamDidReceive`: a connection driven with no task.
    final class LoopEcho: ByteStreamReceiver, @unchecked Sendable {
        let connection: TCPConnection
        init(_ connection: TCPConnection) { self.connection = connection }
        func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
            _ = try? connection.writeWithoutWaiting(Array(bytes))
        }
        func streamDidEnd(_ error: (any Error)?) {
            let connection = self.connection
            Task(executorPreference: connection.eventLoop) { await connection.close() }
        }
    }

    /// `.keepOpen`: the connection lives on with no task, driven from its loop; cancelling
    /// `serve` closes it, and `serve` returns only once it has closed.
    @Test func keptOpenConnectionsLiveWithoutATaskUntilServeIsCancelled() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serveHandingOver { connection in
                try await connection.eventLoop.submit { connection.startReceiving(LoopEcho(connection)) }
                return .keepOpen
            }
        }
        var clients: [TCPConnection] = []
        for _ in 0..<3 {
            let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port, on: group.next())
            try await client.write(Array("ping".utf8))
            #expect(try await readExactly(4, from: client) == Array("ping".utf8))
            clients.append(client)
        }
        // One peer leaves on its own: its connection closes and leaves the table.
        await clients.removeLast().close()
        serving.cancel()
        _ = try? await serving.value // returns after the kept-open connections closed
        for client in clients {
            #expect(try await client.read() == nil)
            await client.close()
        }
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }
}
