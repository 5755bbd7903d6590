/// A route's `WebSocketResponder`, held by one object that every connection of the route
/// refers to. A call goes through one class method to the concrete responder's own
/// methods: no existential is copied, projected and destroyed on each read, which took
/// about 0.8 % of an echo server's samples at one message per read.
///
/// Guarantees: immutable; the methods only forward to the responder, on the caller's
/// thread (the socket's loop).
class RouteResponder: @unchecked Sendable {
    // @unchecked: the base holds nothing; its one subclass holds one immutable `Sendable`
    // value. (A class that is not final cannot conform to `Sendable` otherwise.)

    /// Wraps `responder` for a route's connections.
    static func make<Responder: WebSocketResponder>(_ responder: Responder) -> RouteResponder {
        TypedRouteResponder(responder)
    }

    fileprivate init() {}

    func webSocketDidOpen(_ socket: WebSocket) {}
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {}
    func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {}
    func webSocketDidClose(_ socket: WebSocket, status: WebSocketCloseStatus) {}
}

/// `RouteResponder` for one responder type: each override calls the responder where it
/// is stored.
private final class TypedRouteResponder<Responder: WebSocketResponder>: RouteResponder, @unchecked Sendable {
    let responder: Responder

    init(_ responder: Responder) {
        self.responder = responder
    }

    override func webSocketDidOpen(_ socket: WebSocket) {
        responder.webSocketDidOpen(socket)
    }

    override func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
        responder.webSocket(socket, didReceive: message)
    }

    override func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {
        responder.webSocket(socket, didReceive: bytes, as: kind)
    }

    override func webSocketDidClose(_ socket: WebSocket, status: WebSocketCloseStatus) {
        responder.webSocketDidClose(socket, status: status)
    }
}
