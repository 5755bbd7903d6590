/// Everything a WebSocket route needs: handshake settings, the hook and the
/// connection configuration. It is the `Upgrade` payload of `HTTPRouter`.
public struct WebSocketEndpoint: Sendable {
    public var handshake: WebSocketServerHandshake
    public var hook: WebSocketUpgradeHook
    public var connection: WebSocketConfiguration

    public init(
        handshake: WebSocketServerHandshake = WebSocketServerHandshake(),
        hook: WebSocketUpgradeHook = .acceptAll,
        connection: WebSocketConfiguration = WebSocketConfiguration()
    ) {
        self.handshake = handshake
        self.hook = hook
        self.connection = connection
    }
}
