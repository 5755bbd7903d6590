import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import EddyTestSupport
import Foundation

/// A scratch directory with an event log, removed by `remove()`.
struct ScratchLog {
    let directory: URL
    var path: String { directory.appendingPathComponent("events.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func engine() throws -> DAGEngine { try DAGEngine(configuration: .init(eventLog: .init(path: path))) }
    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// An in-process HTTP server carrying a `DAGStreamGateway` for `engine`.
struct GatewayServer {
    let gateway: DAGStreamGateway
    let group: EventLoopGroup
    let listener: TCPListener
    let serving: Task<Void, any Error>

    var port: Int { listener.localAddress.port }

    static func start(_ engine: DAGEngine, configuration: DAGStreamConfiguration, loops: Int = 2,
                      port: Int = 0, backlog: Int = 1024, tcp: TCPConfiguration = TCPConfiguration()) async throws -> GatewayServer {
        let gateway = DAGStreamGateway(engine: engine, configuration: configuration)
        var router = HTTPRouter<WebSocketRoute>()
        try gateway.install(into: &router)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: loops)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: port, backlog: backlog, group: group, configuration: tcp)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return GatewayServer(gateway: gateway, group: group, listener: listener, serving: serving)
    }

    /// Stops accepting, ends the handlers, shuts the loops down; whether they stopped clean.
    func stop() async -> Bool {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown().allSatisfy { $0.isClean }
    }
}

/// The built `eddy` binary run as `eddy demo`.
enum DemoProcess {
    static let binary = eddyBinary

    /// Starts `eddy demo` (or `command` with `arguments`) on `db` and `port` (0: any) with
    /// tokens "op" and "view", given the documented way (environment); returns the process and
    /// the port it bound.
    static func start(db: String, port: Int = 0, command: String = "demo", arguments: [String] = ["--gate-timeout", "600"])
        async throws -> (ChildProcess, Int)
    {
        try await startEddyServer([command, "--port", String(port), "--db", db] + arguments, environment: tokens)
    }

    /// Our environment with EDDY_OPERATOR_TOKEN=op and EDDY_VIEWER_TOKEN=view.
    static var tokens: [String: String] { environment(with: ["EDDY_OPERATOR_TOKEN": "op", "EDDY_VIEWER_TOKEN": "view"]) }
}

/// `GET path` with `Connection: close` on 127.0.0.1:`port`, read to the end (bounded: 10 s):
/// the whole response as text.
func httpGet(_ path: String, port: Int, loop: EventLoop) async throws -> String {
    try await loop.withTimeout(.seconds(10)) {
        let connection = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
        try await connection.write(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
        var bytes: [UInt8] = []
        while let chunk = try await connection.read() { bytes += chunk }
        await connection.close()
        return String(decoding: bytes, as: UTF8.self)
    }
}
