/// How a connection ended.
///
/// Guarantees: `code` is the peer's code when it sent one (1005 when its Close was
/// empty), the code Eddy sent when Eddy failed the connection, or 1006 when the
/// transport ended without a closing handshake. `wasClean` is true only when both
/// Close frames were exchanged (RFC 6455 §7.1.4).
public struct WebSocketCloseStatus: Sendable, Equatable {
    public var code: WebSocketCloseCode
    public var reason: String
    public var wasClean: Bool
    /// The peer's violation when Eddy failed the connection.
    public var error: WebSocketProtocolError?

    public init(code: WebSocketCloseCode, reason: String = "", wasClean: Bool, error: WebSocketProtocolError? = nil) {
        self.code = code
        self.reason = reason
        self.wasClean = wasClean
        self.error = error
    }
}
