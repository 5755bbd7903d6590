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
    @OptionGroup var logging: LogOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "eddy.tcp-echo")
        try await runServer(group: try EventLoopGroup(loopCount: loops), host: host, port: port,
                            logger: logger, shutdownTimeout: logging.shutdownTimeout) { listener in
            try await listener.serve { connection in
                for try await chunk in connection.inbound { try await connection.write(chunk) }
            }
        }
    }
}
