/// A parsed `ws://` or `wss://` URL (RFC 6455 §3).
///
/// Guarantees: host is non-empty (IPv6 literals keep their brackets); port is
/// 1...65535 (default 80 for ws, 443 for wss); `resource` is the path and query
/// (`/` when empty); user info and fragments are refused (§3 forbids fragments).
/// `requiresTLS` is true for wss — the TLS stream comes from the transport layer.
public struct WebSocketURL: Sendable, Equatable {
    public let requiresTLS: Bool
    public let host: String
    public let port: Int
    public let resource: String

    public init(_ string: String) throws(WebSocketHandshakeError) {
        let lower = string.lowercased()
        let rest: Substring
        if lower.hasPrefix("ws://") {
            requiresTLS = false
            rest = string.dropFirst(5)
        } else if lower.hasPrefix("wss://") {
            requiresTLS = true
            rest = string.dropFirst(6)
        } else {
            throw .init(.invalidURL("scheme must be ws or wss"))
        }
        if rest.contains("#") { throw .init(.invalidURL("fragment")) }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var resource = String(rest[authorityEnd...])
        if resource.isEmpty { resource = "/" } else if resource.hasPrefix("?") { resource = "/" + resource }
        guard !authority.contains("@") else { throw .init(.invalidURL("user info")) }
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .init(.invalidURL("IPv6 literal")) }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .init(.invalidURL("port")) }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty, !hostPart.contains(" ") else { throw .init(.invalidURL("host")) }
        let defaultPort = requiresTLS ? 443 : 80
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(portPart), (1...65535).contains(value) else {
                throw .init(.invalidURL("port"))
            }
            port = value
        } else {
            port = defaultPort
        }
        guard resource.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .init(.invalidURL("path")) }
        host = String(hostPart)
        self.resource = resource
    }

    /// The host without an IPv6 literal's brackets: the name TLS's SNI and certificate check
    /// want.
    public var bareHost: String {
        host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
    }

    /// The Host header value: the port is included only when not the default (§4.1 item 4).
    public var hostHeader: String {
        port == (requiresTLS ? 443 : 80) ? host : "\(host):\(port)"
    }
}
