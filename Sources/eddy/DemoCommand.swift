import ArgumentParser
import EddyLoop

/// `eddy demo`: the main job. Until the DAG stream server lands it runs the TCP echo
/// server on 127.0.0.1:8080 and says how to talk to it.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Eddy's demo server (currently: TCP echo on 127.0.0.1:8080)."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind.") var port = 8080

    func run() async throws {
        try await serveTCPEcho(host: host, port: port, loops: EventLoopGroup.coreCount) { port in
            Console.out("""
            Eddy demo: TCP echo server on \(host):\(port) (\(EventLoopGroup.coreCount) event loops).
            Try it:  python3 -c "import socket; s=socket.create_connection(('\(host)', \(port))); s.sendall(b'hello'); print(s.recv(5))"
            Stop with Ctrl-C.
            """)
        }
    }
}
