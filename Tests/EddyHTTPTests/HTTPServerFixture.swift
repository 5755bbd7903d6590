import EddyHTTP
import EddyLoop
import EddyNet

/// An in-process `HTTPServer` with `/healthz` and nothing else (every other path is 404; no
/// upgrade routes), on two loops.
struct HTTPServerFixture {
    let group: EventLoopGroup
    let listener: TCPListener
    let serving: Task<Void, any Error>
    let server: HTTPServer<NoUpgrade>

    var port: Int { listener.localAddress.port }

    static func start(configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                      tcp: TCPConfiguration = TCPConfiguration(),
                      limits: ConnectionLimits = ConnectionLimits()) async throws -> HTTPServerFixture {
        var router = HTTPRouter<NoUpgrade>()
        try router.addHealthCheck()
        let server = HTTPServer(router: router, configuration: configuration) { _, _ in .close }
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group, configuration: tcp,
                                                  limits: limits.answeringOverHTTP())
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return HTTPServerFixture(group: group, listener: listener, serving: serving, server: server)
    }

    /// Stops accepting, ends the handlers, shuts the loops down; whether they stopped clean.
    func stop() async -> Bool {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown().allSatisfy { $0.isClean }
    }
}

/// The fixture has no upgrade routes: its upgrade handler is never called.
struct NoUpgrade: Sendable {}
