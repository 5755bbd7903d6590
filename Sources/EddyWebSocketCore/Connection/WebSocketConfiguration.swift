/// Limits and timeouts of one WebSocket connection.
///
/// Every field has a default, chosen for a server with many mostly idle connections:
/// - `maxFrameSize` = 1 MiB and `maxMessageSize` = 1 MiB: a peer can make Eddy buffer
///   at most 1 MiB per connection (plus the decompressed size, also capped at
///   `maxMessageSize`). Raise both (up to 64 MiB and beyond) for bulk transfers; the
///   cost is exactly that much memory per connection that uses it.
/// - `maxFragments` = 1024: empty continuation frames do not grow a message, so
///   without this bound a peer could keep a message open forever at no cost to
///   itself. Browsers never fragment; Autobahn's 9.3/9.4 cases need 65,536 (configure
///   up to 1,000,000 or more).
/// - `closeTimeout` = 10 s: how long to wait for the peer's Close (or, for a client,
///   the server's TCP close) before dropping the transport.
/// - `keepAlive`: see `WebSocketKeepAliveConfiguration`.
///
/// Guarantees: sizes are clamped to at least 125 bytes and 1 fragment.
public struct WebSocketConfiguration: Sendable {
    public var maxFrameSize: Int
    public var maxMessageSize: Int
    public var maxFragments: Int
    public var closeTimeout: Duration
    public var keepAlive: WebSocketKeepAliveConfiguration
    /// Where client frames get their masking keys (RFC 6455 §5.3): OpenSSL's CSPRNG by
    /// default; tests pass a fixed key.
    public var maskingKeySource: WebSocketMaskingKeySource

    public init(
        maxFrameSize: Int = 1 << 20,
        maxMessageSize: Int = 1 << 20,
        maxFragments: Int = 1024,
        closeTimeout: Duration = .seconds(10),
        keepAlive: WebSocketKeepAliveConfiguration = WebSocketKeepAliveConfiguration(),
        maskingKeySource: WebSocketMaskingKeySource = .secureRandom
    ) {
        self.maxFrameSize = max(125, maxFrameSize)
        self.maxMessageSize = max(125, maxMessageSize)
        self.maxFragments = max(1, maxFragments)
        self.closeTimeout = closeTimeout
        self.keepAlive = keepAlive
        self.maskingKeySource = maskingKeySource
    }
}
