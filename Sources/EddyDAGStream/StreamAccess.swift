import EddyHTTP

/// Who is asking, decided from the upgrade request before the 101.
enum StreamRole: Sendable, Equatable { case operatorRole, viewer }

/// Authentication and origin checks for the stream endpoint.
///
/// A token may arrive as `Authorization: Bearer <t>`, as `?token=<t>`, or — for browsers,
/// which cannot set headers on a WebSocket — as a `Sec-WebSocket-Protocol` entry
/// `token.<t>`. Tokens are compared in constant time.
struct StreamAccess: Sendable {
    let configuration: DAGStreamConfiguration

    enum Decision: Equatable {
        case allow(StreamRole)
        case deny(HTTPStatus, String)
    }

    func decide(_ request: HTTPRequest) -> Decision {
        if let origin = request.headers.first(name: "Origin"), !originAllowed(origin, request: request) {
            return .deny(.forbidden, "origin not allowed")
        }
        guard let token = Self.token(in: request) else { return .deny(.unauthorized, "missing token") }
        if configuration.operatorTokens.contains(where: { Self.constantTimeEquals($0, token) }) { return .allow(.operatorRole) }
        if configuration.viewerTokens.contains(where: { Self.constantTimeEquals($0, token) }) { return .allow(.viewer) }
        return .deny(.unauthorized, "invalid token")
    }

    private func originAllowed(_ origin: String, request: HTTPRequest) -> Bool {
        if configuration.allowedOrigins.contains(origin) { return true }
        guard let host = request.headers.first(name: "Host") else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    static func token(in request: HTTPRequest) -> String? {
        if let authorization = request.headers.first(name: "Authorization"), authorization.lowercased().hasPrefix("bearer ") {
            return String(authorization.dropFirst(7)).trimmingSpaces
        }
        if let token = request.queryValue("token"), !token.isEmpty { return token }
        for offered in request.headers.listValues(name: "Sec-WebSocket-Protocol") where offered.hasPrefix("token.") {
            return String(offered.dropFirst(6))
        }
        return nil
    }

    /// Compares without stopping at the first difference, so timing reveals nothing about
    /// how much of a guessed token was right.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

extension String {
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
