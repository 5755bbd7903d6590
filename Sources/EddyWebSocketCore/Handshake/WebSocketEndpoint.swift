/// Everything a WebSocket route needs: handshake settings, the hook and the
/// connection configuration. It is the `Upgrade` payload of `HTTPRouter`. Every field has a
/// default.
public struct WebSocketEndpoint: Sendable {
    public var handshake: WebSocketServerHandshake
    public var hook: WebSocketUpgradeHook
    public var connection: WebSocketConfiguration
    /// Time the server side of the handshake may take once the upgrade request has been
    /// read: the hook's decision and the write of the 101 or of the refusal. A client that
    /// does not take the response in time (it stopped reading) is disconnected, as is one
    /// whose hook never answers. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)

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
