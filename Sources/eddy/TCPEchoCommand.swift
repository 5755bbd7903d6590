import ArgumentParser
import EddyLoop
import EddyNet

/// `eddy tcp-echo`: a TCP echo server on Eddy's runtime, used by the runtime benchmark
/// and as the smallest complete example of the API.
struct TCPEchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp-echo",
        abstract: "Run a TCP echo server (prints 'LISTENING <port>' once bound; stops on SIGINT/SIGTERM)."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 9000
    @Option(help: "Event loops (default: one per core).") var loops = EventLoopGroup.coreCount

    func run() async throws {
        try await serveTCPEcho(host: host, port: port, loops: loops) { port in
            Console.out("LISTENING \(port)")
        }
    }
}

/// Serves TCP echo until SIGINT or SIGTERM, then shuts down in order.
func serveTCPEcho(host: String, port: Int, loops: Int, onListening: (Int) -> Void) async throws {
    let group = try EventLoopGroup(loopCount: loops)
    let listener = try await TCPListener.bind(host: host, port: port, group: group)
    onListening(listener.localAddress.port)
    let serving = Task(executorPreference: listener.eventLoop) {
        try await listener.serve { connection in
            for try await chunk in connection.inbound {
                try await connection.write(chunk)
            }
        }
    }
    let signal = try await group.loops[0].waitForSignal([.interrupt, .terminate])
    Console.error("eddy: \(signal), shutting down")
    await listener.close()
    serving.cancel()
    _ = try? await serving.value
    let reports = await group.shutdown()
    if !reports.allSatisfy(\.isClean) {
        Console.error("eddy: shutdown left handles open: \(reports)")
    }
}

