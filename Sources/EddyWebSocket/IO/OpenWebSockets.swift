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
        var sockets: [ObjectIdentifier: WebSocket] = [:]
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
            state.sockets[ObjectIdentifier(socket)] = socket
            return nil
        }
        if let closing {
            Task(executorPreference: socket.eventLoop) { _ = await socket.close(code: closing.code, reason: closing.reason) }
        }
    }

    /// Forgets a connection whose transport closed.
    func closed(_ socket: WebSocket) {
        _ = state.withLock { $0.sockets.removeValue(forKey: ObjectIdentifier(socket)) }
    }

    /// Closes every open connection with `code` (and any accepted from now on), and waits
    /// until their transports have closed.
    public func closeAll(code: WebSocketCloseCode = .goingAway, reason: String = "server shutting down") async {
        let sockets = state.withLock { state -> [WebSocket] in
            state.closing = (code, reason)
            return Array(state.sockets.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for socket in sockets {
                group.addTask { _ = await socket.close(code: code, reason: reason) }
            }
        }
    }
}
