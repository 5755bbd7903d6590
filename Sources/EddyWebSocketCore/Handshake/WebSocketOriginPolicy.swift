/// Which `Origin` values the server accepts (RFC 6455 §4.2.1 item 8, §10.2).
///
/// Guarantees: comparison is ASCII-case-insensitive on the serialized origin
/// (`scheme://host[:port]`); with an allow-list, a request without `Origin` is
/// accepted only if `allowsMissingOrigin` (non-browser clients send none).
public struct WebSocketOriginPolicy: Sendable, Equatable {
    var allowed: Set<String>?
    public var allowsMissingOrigin: Bool

    /// Any origin (and none).
    public static let any = WebSocketOriginPolicy(allowed: nil, allowsMissingOrigin: true)

    /// Only these origins, e.g. `["https://dash.example.com"]`.
    public static func allowList(_ origins: [String], allowsMissingOrigin: Bool = true) -> WebSocketOriginPolicy {
        WebSocketOriginPolicy(allowed: Set(origins.map { $0.lowercased() }), allowsMissingOrigin: allowsMissingOrigin)
    }

    func allows(_ origin: String?) -> Bool {
        guard let allowed else { return true }
        guard let origin else { return allowsMissingOrigin }
        return allowed.contains(origin.lowercased())
    }
}
