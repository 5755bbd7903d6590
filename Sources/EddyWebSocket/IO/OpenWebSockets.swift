import EddyWebSocketCore
import EddyShared

/// The WebSocket connections of a server's routes that are open now, so that a graceful
/// shutdown can close each with 1001 (going away) and wait for the closing handshakes.
///
/// Set it on the routes (`WebSocketRoute.openSockets`); every connection they accept is
/// kept here from its 101 until its transport closes.
///
/// Guarantees: `closeAll` closes every connection open when it is called and every one
/// accepted after it (at once, with the same code), and returns when their transports have
/// closed (each close is bounded by its connection's close timeout); a connection is
/// forgotten when its transport closes, so an idle server holds nothing for connections
/// that have ended.
public final class OpenWebSockets: Sendable {
    private struct State {
        /// Every socket at its `openSlot`: a dense list (8 bytes a socket, capacity in powers
        /// of two) instead of a hash table (16 bytes a bucket, ≤ 75 % full).
        var sockets: [WebSocket] = []
        /// Set by `closeAll`: the code and reason later connections are closed with.
        var closing: (code: WebSocketCloseCode, reason: String)?
    }

    private let state = Mutex(State())

    public init() {}

    /// How many connections are open.
    public var count: Int { state.withLock { $0.sockets.count } }

    /// Keeps `socket` until it closes; closes it at once if `closeAll` has begun.
    func admit(_ socket: WebSocket) {
        let closing = state.withLock { state -> (code: WebSocketCloseCode, reason: String)? in
            if let closing = state.closing { return closing }
            socket.openSlot = Int32(truncatingIfNeeded: state.sockets.count)
            state.sockets.append(socket)
            return nil
        }
        if let closing {
            Task(executorPreference: socket.eventLoop) { _ = await socket.close(code: closing.code, reason: closing.reason) }
        }
    }

    /// Forgets a connection whose transport closed.
    func closed(_ socket: WebSocket) {
        state.withLock { state in
            let slot = Int(socket.openSlot)
            guard slot >= 0, slot < state.sockets.count, state.sockets[slot] === socket else { return }
            socket.openSlot = -1
            let last = state.sockets.removeLast()
            if slot < state.sockets.count {
                state.sockets[slot] = last
                last.openSlot = Int32(truncatingIfNeeded: slot)
            }
        }
    }

    /// Closes every open connection with `code` (and any accepted from now on), and waits
    /// until their transports have closed.
    public func closeAll(code: WebSocketCloseCode = .goingAway, reason: String = "server shutting down") async {
        let sockets = state.withLock { state -> [WebSocket] in
            state.closing = (code, reason)
            return state.sockets
        }
        await WebSocket.close(sockets, code: code, reason: reason)
    }
}

/// A route's responder and register of open connections, in one box that each of the
/// route's connections refers to (one reference per `WebSocket` instead of two).
///
/// Guarantees: immutable; made when the route is made or its `openSockets` is set, nil when
/// the route has neither.
final class WebSocketRouteLinks: Sendable {
    let responder: RouteResponder?
    let openSockets: OpenWebSockets?
    /// `responder` without a reference count of its own, for a read (see
    /// `WebSocket.receive(_:lendingTo:)`): valid while these links are, since `responder`
    /// holds it.
    let unretainedResponder: Unmanaged<RouteResponder>?

    private init(responder: RouteResponder?, openSockets: OpenWebSockets?) {
        self.responder = responder
        self.openSockets = openSockets
        self.unretainedResponder = responder.map { Unmanaged.passUnretained($0) }
    }

    static func make(responder: RouteResponder?, openSockets: OpenWebSockets?) -> WebSocketRouteLinks? {
        if responder == nil && openSockets == nil { return nil }
        return WebSocketRouteLinks(responder: responder, openSockets: openSockets)
    }
}
