import ArgumentParser
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket

/// `eddy echo`: a WebSocket echo server for conformance suites and benchmarks.
/// Every text and binary message is echoed as is; permessage-deflate is on and every
/// limit is at its default unless raised by a flag. Keep these flags stable.
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run a WebSocket echo server (prints 'LISTENING <port>' once bound; stops on SIGINT/SIGTERM)."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 9001
    @Option(help: "Event loops (default: one per core).") var loops = EventLoopGroup.coreCount
    @Option(help: "Largest message accepted, in bytes (default 1 MiB).") var maxMessageSize: Int?
    @Option(help: "Most fragments per message (default: Eddy's default).") var maxFragments: Int?
    @Flag(help: "Turn permessage-deflate off.") var noDeflate = false

    func run() async throws {
        var connection = WebSocketConfiguration()
        if let maxMessageSize {
            connection.maxMessageSize = maxMessageSize
            connection.maxFrameSize = max(connection.maxFrameSize, maxMessageSize)
        }
        if let maxFragments { connection.maxFragments = maxFragments }
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.deflate.isEnabled = !noDeflate
        let route = WebSocketRoute(
            endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), connection: connection)
        ) { socket, _ in
            for try await message in socket.messages {
                try await socket.send(message)
            }
        }
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        for pattern in ["/", "/{a}", "/{a}/{b}"] { try router.addUpgrade(pattern, route) }
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)

        let group = try EventLoopGroup(loopCount: loops)
        let listener = try await TCPListener.bind(host: host, port: port, group: group)
        Console.out("LISTENING \(listener.localAddress.port)")
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        let signal = try await group.loops[0].waitForSignal([.interrupt, .terminate])
        Console.error("eddy: \(signal), shutting down")
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        await group.shutdown()
    }
}
