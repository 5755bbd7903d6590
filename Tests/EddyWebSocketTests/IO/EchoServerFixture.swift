import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import EddyTestSupport
import Foundation

/// An in-process Eddy WebSocket echo server with two routes: `/default` (every limit at
/// its default) and `/big` (64 MiB messages), plus `/healthz`.
struct EchoServerFixture {
    let group: EventLoopGroup
    let listener: TCPListener
    let serving: Task<Void, any Error>
    let server: HTTPServer<WebSocketRoute>

    var port: Int { listener.localAddress.port }
    var baseURL: String { "ws://127.0.0.1:\(port)" }

    /// How the fixture's routes echo.
    enum Echo: String, CaseIterable, Sendable {
        /// A task per connection: `for try await message in socket.messages`.
        case task
        /// A `WebSocketResponder` on the loop, no task per connection.
        case responder
        /// A responder that also takes lent messages and answers them from the receive
        /// buffer (`webSocket(_:didReceive:as:)`, `sendWithoutWaiting(_:as:)`).
        case lendingResponder

        /// An echo route at `endpoint` that echoes this way.
        func route(_ endpoint: WebSocketEndpoint = WebSocketEndpoint()) -> WebSocketRoute {
            switch self {
            case .task:
                return WebSocketRoute(endpoint: endpoint) { socket, _ in
                    for try await message in socket.messages { try await socket.send(message) }
                }
            case .responder:
                return WebSocketRoute(endpoint: endpoint, responder: EchoResponder())
            case .lendingResponder:
                return WebSocketRoute(endpoint: endpoint, responder: LendingEchoResponder())
            }
        }
    }

    /// Starts the server. `/stalled-hook` is an upgrade route whose hook never answers
    /// (until the server stops), with `handshakeTimeout`.
    static func start(httpConfiguration: HTTPServerConfiguration = HTTPServerConfiguration(),
                      origins: WebSocketOriginPolicy = .any, echo: Echo = .task,
                      tcp: TCPConfiguration = TCPConfiguration(),
                      handshakeTimeout: Duration = .seconds(10)) async throws -> EchoServerFixture {
        func route(_ endpoint: WebSocketEndpoint) -> WebSocketRoute { echo.route(endpoint) }
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.originPolicy = origins
        var big = WebSocketConfiguration()
        big.maxMessageSize = 64 << 20
        big.maxFrameSize = 64 << 20
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        try router.addUpgrade("/default", route(WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake))))
        try router.addUpgrade("/big", route(WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), connection: big)))
        var stalled = WebSocketEndpoint(hook: WebSocketUpgradeHook { _, _ in
            try? await Task.sleep(for: .seconds(3600))
            return .accept(extraHeaders: HTTPHeaders())
        })
        stalled.handshakeTimeout = handshakeTimeout
        try router.addUpgrade("/stalled-hook", route(stalled))
        let server = HTTPServer(router: router, configuration: httpConfiguration, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 2)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group, configuration: tcp)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return EchoServerFixture(group: group, listener: listener, serving: serving, server: server)
    }

    func stop() async -> [ShutdownReport] {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown()
    }
}

/// Echoes every message from the socket's loop (see `WebSocketResponder`).
struct EchoResponder: WebSocketResponder {
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        _ = try? socket.sendWithoutWaiting(message)
    }
}

/// Echoes lent messages straight from the receive buffer, and the others (fragmented,
/// compressed) as messages.
struct LendingEchoResponder: WebSocketResponder {
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        _ = try? socket.sendWithoutWaiting(message)
    }

    func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {
        _ = try? socket.sendWithoutWaiting(bytes, as: kind)
    }
}

/// Where the Python peers live, and the project's venv interpreter (`make test` makes it).
enum Peers {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers")
    static let python = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".venv/bin/python").path

    /// Runs a peer script to completion; returns its exit status and output.
    static func run(_ script: String, _ arguments: [String]) async throws -> (Int32, String) {
        try await runProcess(URL(fileURLWithPath: python), [directory.appendingPathComponent(script).path] + arguments)
    }

}
