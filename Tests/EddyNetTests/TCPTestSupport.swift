import EddyLoop
import EddyNet

/// Starts an echo server on 127.0.0.1 with a fresh group; returns the listener, the
/// serving task and the group.
struct EchoServer {
    let group: EventLoopGroup
    let listener: TCPListener
    let serving: Task<Void, any Error>

    var port: Int { listener.localAddress.port }

    static func start(loops: Int = 2, host: String = "127.0.0.1", configuration: TCPConfiguration = TCPConfiguration()) async throws -> EchoServer {
        let group = try EventLoopGroup(loopCount: loops)
        let listener = try await TCPListener.bind(host: host, port: 0, group: group, configuration: configuration)
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                for try await chunk in connection.inbound {
                    try await connection.write(chunk)
                }
            }
        }
        return EchoServer(group: group, listener: listener, serving: serving)
    }

    /// Closes the listener, waits for the handlers and shuts the loops down.
    func stop() async throws -> [ShutdownReport] {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown()
    }
}

/// Reads from `connection` until `count` bytes arrived (or the stream ends).
func readExactly(_ count: Int, from connection: TCPConnection) async throws -> [UInt8] {
    var received: [UInt8] = []
    var iterator = connection.inbound.makeAsyncIterator()
    while received.count < count, let chunk = try await iterator.next() {
        received += chunk
    }
    return received
}
