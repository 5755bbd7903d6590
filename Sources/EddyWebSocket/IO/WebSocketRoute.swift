import EddyMetrics
import EddyShared
import EddyWebSocketCore
import EddyLoop
import EddyHTTP
public import EddyNet
import Logging

/// A WebSocket endpoint on an `HTTPServer`: its handshake settings and the handler that
/// owns each accepted connection.
///
/// ```swift
/// var router = HTTPRouter<WebSocketRoute>()
/// try router.addUpgrade("/echo", WebSocketRoute { ws, _ in
///     for try await message in ws.messages { try await ws.send(message) }
/// })
/// let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
/// ```
///
/// Guarantees: a request that fails RFC 6455 §4.2.1 validation gets its exact status
/// (400, 403 for a refused origin, 426 with `Sec-WebSocket-Version: 13`) and is closed;
/// the hook runs exactly once, after validation and before the 101; when the handler
/// returns or throws, the connection is closed (1000, or 1011 if it threw). A route made
/// with a `WebSocketResponder` runs no task per connection at all: the responder's
/// callbacks drive it on its loop, and the listener closes it when the server stops. Through
/// `WebSocketRoute.upgrade` the handler runs in a fresh task that holds only what it needs
/// while idle; when the server stops (`serve` cancelled) its connection is closed, which
/// ends its waits on the socket. (Waits on the socket in that handler do not watch their
/// own task's cancellation: a child task of the handler that must stop reading should be
/// told so, or close the socket.)
public struct WebSocketRoute: Sendable {
    /// What a handler learns about the upgrade request.
    public struct Context: Sendable {
        public let request: HTTPRequest
        public let parameters: HTTPRouteParameters
    }

    public typealias Handler = @Sendable (WebSocket, Context) async throws -> Void
    /// A handler that needs nothing from the upgrade request.
    public typealias PlainHandler = @Sendable (WebSocket) async throws -> Void

    public var endpoint: WebSocketEndpoint {
        didSet { sharedConfiguration = SharedValue(endpoint.connection) }
    }
    public let handler: Handler
    /// Hears refused and failed handshakes (`debug`: one line per refused upgrade, with its
    /// status and path); nothing once a connection is open. Default: a logger labelled
    /// `eddy.websocket` from the program's `LoggingSystem`.
    public var logger = Logger(label: "eddy.websocket")
    /// Where this route's open connections are kept, for a graceful shutdown that closes
    /// them with 1001 (`OpenWebSockets.closeAll`). Default nil: none kept.
    public var openSockets: OpenWebSockets? {
        didSet { routeLinks = WebSocketRouteLinks.make(responder: responder, openSockets: openSockets) }
    }
    /// `responder` and `openSockets` in the one box each connection refers to.
    private var routeLinks: WebSocketRouteLinks?
    /// `endpoint.connection`, shared by this route's connections.
    private var sharedConfiguration: SharedValue<WebSocketConfiguration>
    /// Set when the route was made with a `PlainHandler`: then the connection keeps no
    /// copy of the request (its headers are a few hundred bytes per idle connection).
    private let plainHandler: PlainHandler?
    /// Set when the route was made with a `WebSocketResponder`: its connections then run
    /// with no task at all.
    private let responder: RouteResponder?

    public init(endpoint: WebSocketEndpoint = WebSocketEndpoint(), handler: @escaping Handler) {
        self.endpoint = endpoint
        self.handler = handler
        self.plainHandler = nil
        self.responder = nil
        self.sharedConfiguration = SharedValue(endpoint.connection)
        WebSocketAccept.prepare() // OpenSSL's SHA-1 set up before the first handshake
    }

    /// A route whose handler needs nothing from the request (authorisation and the like
    /// belong in `endpoint.hook`, which sees it before the 101).
    public init(endpoint: WebSocketEndpoint = WebSocketEndpoint(), handler: @escaping PlainHandler) {
        self.endpoint = endpoint
        self.handler = { socket, _ in try await handler(socket) }
        self.plainHandler = handler
        self.responder = nil
        self.sharedConfiguration = SharedValue(endpoint.connection)
        WebSocketAccept.prepare() // OpenSSL's SHA-1 set up before the first handshake
    }

    /// A route whose connections are driven by `responder`'s callbacks on their loops,
    /// with no task per connection (see `WebSocketResponder`). `handler` then waits until
    /// the connection has closed, which is what `accept` runs.
    public init(endpoint: WebSocketEndpoint = WebSocketEndpoint(), responder: some WebSocketResponder) {
        self.endpoint = endpoint
        self.handler = { socket, _ in await socket.waitUntilClosed() }
        self.plainHandler = nil
        self.responder = RouteResponder.make(responder)
        self.sharedConfiguration = SharedValue(endpoint.connection)
        self.routeLinks = WebSocketRouteLinks.make(responder: self.responder, openSockets: nil)
        WebSocketAccept.prepare() // OpenSSL's SHA-1 set up before the first handshake
    }

    /// The `HTTPServer` upgrade handler for routes of this type: the handshake in the
    /// HTTP exchange's task, then the handler in a fresh task (`ConnectionOutcome`), so an
    /// idle connection holds only what its handler needs.
    public static func upgrade(_ route: WebSocketRoute, _ handoff: HTTPUpgradeRequest<any ByteStream>) async -> ConnectionOutcome {
        guard let (socket, context) = await route.handshake(on: handoff.stream, handoff) else { return .close }
        // Driven by callbacks on its loop: no task to hand over to; the listener keeps the
        // connection in its table (closed if `serve` is cancelled) until it closes.
        if route.responder != nil { return .keepOpen }
        // The hand-over runs in the listener's group, which closes the connection if `serve`
        // is cancelled: waits on the socket need no cancellation handler of their own.
        socket.driver.handedOverToListener()
        if let plain = route.plainHandler {
            return .handOver { await Self.run(plain, socket) }
        }
        let handler = route.handler
        return .handOver { await Self.run({ try await handler($0, context) }, socket) }
    }

    /// Runs the handshake on `handoff.stream` and, if accepted, the handler, in the calling
    /// task.
    public func accept<Stream: ByteStream>(_ handoff: HTTPUpgradeRequest<Stream>) async {
        await accept(on: handoff.stream, handoff)
    }

    /// `accept(_:)` for what `HTTPServer` hands an upgrade handler.
    public func accept(_ handoff: HTTPUpgradeRequest<any ByteStream>) async {
        await accept(on: handoff.stream, handoff)
    }

    private func accept<Stream: ByteStream, Carried>(on stream: Stream, _ handoff: HTTPUpgradeRequest<Carried>) async {
        // The handshake's state is dropped before the handler starts: a connection that
        // stays open for hours keeps only the socket and the request.
        guard let (socket, context) = await handshake(on: stream, handoff) else { return }
        let handler = self.handler
        await Self.run({ try await handler($0, context) }, socket)
    }

    /// Runs `handler` and closes the socket after it: 1000, or 1011 if it threw.
    ///
    /// Kept out of line, with the close in a function of its own: this frame stays on an
    /// idle connection's task for as long as the handler waits, so it holds only what the
    /// wait needs.
    @inline(never)
    private static func run(_ handler: PlainHandler, _ socket: WebSocket) async {
        let threw: Bool
        do {
            try await handler(socket)
            threw = false
        } catch {
            threw = true
        }
        await finish(socket, threw: threw)
    }

    @inline(never)
    private static func finish(_ socket: WebSocket, threw: Bool) async {
        if threw { await socket.close(code: .internalError, reason: "") } else { await socket.close() }
    }

    /// Validates the upgrade request, asks the hook, and writes the 101, all within
    /// `endpoint.handshakeTimeout` (past it the stream is closed). Nil when the request
    /// was refused (the refusal has been written and the stream closed) or timed out.
    /// `stream` is `handoff.stream` with its concrete type.
    private func handshake<Stream: ByteStream, Carried>(on stream: Stream, _ handoff: HTTPUpgradeRequest<Carried>) async -> (WebSocket, Context)? {
        let loop = stream.eventLoop
        let deadline = loop.schedule(after: endpoint.handshakeTimeout) {
            Task(executorPreference: loop) { await stream.close() }
        }
        defer { deadline.cancel() }
        switch endpoint.handshake.negotiate(handoff.request) {
        case .reject(let response, _):
            logger.debug("WebSocket handshake refused", metadata: ["status": "\(response.status.code)", "path": "\(handoff.request.path)",
                                                                   "remote_address": "\(stream.remoteAddress.map { "\($0)" } ?? "-")"])
            await reject(stream, with: response)
            return nil
        case .accept(let agreement):
            switch await endpoint.hook.decide(handoff.request, handoff.parameters) {
            case .reject(let response):
                logger.debug("WebSocket upgrade refused", metadata: ["status": "\(response.status.code)", "path": "\(handoff.request.path)",
                                                                     "remote_address": "\(stream.remoteAddress.map { "\($0)" } ?? "-")"])
                await reject(stream, with: response)
                return nil
            case .accept(let extraHeaders):
                guard let bytes = agreement.responseBytes(extraHeaders: extraHeaders) else {
                    await reject(stream, with: .error(.internalServerError))
                    return nil
                }
                do { try await stream.write(bytes) } catch {
                    logger.debug("WebSocket handshake: writing the 101 failed", metadata: ["error": "\(error)"])
                    await stream.close()
                    return nil
                }
                let socket = WebSocket(
                    upgraded: stream, role: .server, sharedConfiguration: sharedConfiguration,
                    deflate: agreement.deflate, deflateConfiguration: endpoint.handshake.configuration.deflate,
                    subprotocol: agreement.subprotocol, leftover: handoff.leftover, routeLinks: routeLinks)
                openSockets?.admit(socket)
                return (socket, Context(request: handoff.request, parameters: handoff.parameters))
            }
        }
    }

    private func reject<Stream: ByteStream>(_ stream: Stream, with response: HTTPResponse) async {
        var response = response
        LoopTally.add(.handshakeRefused(status: response.status.code))
        if !response.headers.containsToken("close", inField: "Connection") {
            response.headers.add(name: "Connection", value: "close")
        }
        // Safe to drop: the peer is being refused and the stream is closed next either way.
        if let bytes = response.serialize() { try? await stream.write(bytes) }
        try? await stream.shutdownWrite() // as above: best effort before the close
        await stream.close()
    }
}
