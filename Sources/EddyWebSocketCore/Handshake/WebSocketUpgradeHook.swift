import EddyHTTPCore

/// The application's decision about an upgrade request (authentication, rate limits).
public enum WebSocketUpgradeDecision: Sendable, Equatable {
    /// Accept; the headers are added to the 101 response (for example `Set-Cookie`).
    case accept(extraHeaders: HTTPHeaders)
    /// Refuse with this response (401, 403, 429 …); the connection then closes.
    case reject(HTTPResponse)
}

/// A hook that sees the upgrade request — path, query, headers, cookies, route
/// parameters — before the server accepts it.
///
/// - Note: the I/O layer calls `decide` exactly once per upgrade request, after
///   `WebSocketServerHandshake.negotiate` accepted it and before writing the 101.
public struct WebSocketUpgradeHook: Sendable {
    public let decide: @Sendable (HTTPRequest, HTTPRouteParameters) async -> WebSocketUpgradeDecision

    public init(_ decide: @escaping @Sendable (HTTPRequest, HTTPRouteParameters) async -> WebSocketUpgradeDecision) {
        self.decide = decide
    }

    /// Accepts every request that passed the protocol checks.
    public static let acceptAll = WebSocketUpgradeHook { _, _ in .accept(extraHeaders: HTTPHeaders()) }
}
