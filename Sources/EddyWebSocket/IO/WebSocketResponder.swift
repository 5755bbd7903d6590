import EddyWebSocketCore
/// Reacts to a `WebSocket`'s events synchronously, on the socket's loop, with no task per
/// connection: the cheapest way to serve many mostly idle connections (an idle
/// connection is its socket and its `WebSocket`, nothing more) and the fastest way to
/// answer each message (no task is resumed per message).
///
/// ```swift
/// struct Echo: WebSocketResponder {
///     func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage) {
///         _ = try? socket.sendWithoutWaiting(message)
///     }
/// }
/// try router.addUpgrade("/echo", WebSocketRoute(responder: Echo()))
/// ```
///
/// Guarantees (for a socket made with a responder, as `WebSocketRoute(responder:)` does):
/// - Every call comes on the socket's `eventLoop`, one at a time, in order:
///   `webSocketDidOpen` first, then one `webSocket(_:didReceive:)` per message, then
///   `webSocketDidClose` exactly once, after the transport has closed.
/// - Backpressure: while the socket's outbound queue is above its high watermark (the
///   peer does not read what it is sent), the socket stops reading; reading resumes when
///   the queue has drained. A responder that answers each message with
///   `sendWithoutWaiting` therefore never queues without bound.
///   A peer that stays that way for the keep-alive pong timeout (it reads nothing, so it
///   cannot answer a ping either) is dropped with 1011, as if it had missed a pong.
/// - Pings, keep-alive, limits and the closing handshake work exactly as for task-driven
///   sockets; `messages` is not available (every message goes to the responder).
/// - The listener's `serve` (through `HTTPServer.serve`) returns only after every one of its
///   responders' connections has closed *and* `webSocketDidClose` has returned.
/// - A connection keeps no buffer a large message needed once it is delivered and
///   answered (small ones are kept for reuse).
///
/// Work that must suspend (a database call) belongs in a `Task` started from a callback;
/// it can use the socket's `async` API (`send`, `close`) from there.
public protocol WebSocketResponder: Sendable {
    /// The handshake has completed; nothing was received yet.
    func webSocketDidOpen(_ socket: WebSocket)
    /// A complete text or binary message arrived.
    func webSocket(_ socket: WebSocket, didReceive message: WebSocketMessage)
    /// A message that arrived whole in one frame and one read (the usual case), lent for
    /// this call only: `bytes` is its payload where it lies in the loop's receive buffer
    /// (text is already checked to be valid UTF-8), so no buffer is allocated for it. Each
    /// message comes either here or to `webSocket(_:didReceive:)`, never to both; there go
    /// the others: fragmented or compressed messages, a frame split across reads, bytes
    /// that came with the handshake, and a message that arrives while a responder call is
    /// still running.
    ///
    /// The default copies the bytes into a `WebSocketMessage` and calls
    /// `webSocket(_:didReceive:)`. Implement it to read or answer a message without that
    /// copy, e.g. with `socket.sendWithoutWaiting(bytes, as: kind)`; copy what you keep.
    func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind)
    /// The connection has closed (cleanly or not): `status` says how.
    func webSocketDidClose(_ socket: WebSocket, status: WebSocketCloseStatus)
}

extension WebSocketResponder {
    public func webSocketDidOpen(_ socket: WebSocket) {}
    public func webSocket(_ socket: WebSocket, didReceive bytes: RawSpan, as kind: WebSocketMessageKind) {
        webSocket(socket, didReceive: bytes.withUnsafeBytes { WebSocketMessage(copying: $0, as: kind) })
    }
    public func webSocketDidClose(_ socket: WebSocket, status: WebSocketCloseStatus) {}
}
