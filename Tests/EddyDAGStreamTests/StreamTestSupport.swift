import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import EddyTestSupport
import Foundation

extension ScratchLog {
    /// An engine on this scratch log.
    func engine() throws -> DAGEngine { try DAGEngine(configuration: .init(eventLog: .init(path: path))) }
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
