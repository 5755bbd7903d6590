import COpenSSL
import EddyHTTP
import EddyShared

/// Who is asking, decided from the upgrade request before the 101.
enum StreamRole: Sendable, Equatable { case operatorRole, viewer }

/// Authentication and origin checks for the stream endpoint.
///
/// A token may arrive as `Authorization: Bearer <t>`, as `?token=<t>`, or — for browsers,
/// which cannot set headers on a WebSocket — as a `Sec-WebSocket-Protocol` entry
/// `token.<t>`. Tokens are compared in constant time, by digest (`constantTimeEquals`); the
/// configured tokens' digests are made once, and again when the tokens are replaced
/// (`replaceTokens`, for rotation without a restart).
final class StreamAccess: Sendable {
    let configuration: DAGStreamConfiguration
    private struct Digests {
        var operators: [[UInt8]]
        var viewers: [[UInt8]]
    }
    /// The tokens' digests (empty tokens admit nobody: left out).
    private let digests: Mutex<Digests>

    init(configuration: DAGStreamConfiguration) {
        self.configuration = configuration
        digests = Mutex(Self.digests(operators: configuration.operatorTokens, viewers: configuration.viewerTokens))
    }

    private static func digests(operators: Set<String>, viewers: Set<String>) -> Digests {
        Digests(operators: operators.filter { !$0.isEmpty }.compactMap(sha256),
                viewers: viewers.filter { !$0.isEmpty }.compactMap(sha256))
    }

    /// From now on, admits these tokens and no others.
    func replaceTokens(operators: Set<String>, viewers: Set<String>) {
        let replacement = Self.digests(operators: operators, viewers: viewers)
        digests.withLock { $0 = replacement }
    }

    /// How many tokens of each role are admitted now.
    var tokenCounts: (operators: Int, viewers: Int) { digests.withLock { ($0.operators.count, $0.viewers.count) } }

    enum Decision: Equatable {
        case allow(StreamRole)
        case deny(HTTPStatus, String)
    }

    func decide(_ request: HTTPRequest) -> Decision {
        if let origin = request.headers.first(name: "Origin"), !originAllowed(origin, request: request) {
            return .deny(.forbidden, "origin not allowed")
        }
        // An empty token is no token.
        guard let token = Self.token(in: request), !token.isEmpty, let digest = Self.sha256(token) else {
            return .deny(.unauthorized, "missing token")
        }
        let role: StreamRole? = digests.withLock { digests in
            if digests.operators.contains(where: { Self.constantTimeEquals($0, digest) }) { return .operatorRole }
            if digests.viewers.contains(where: { Self.constantTimeEquals($0, digest) }) { return .viewer }
            return nil
        }
        guard let role else { return .deny(.unauthorized, "invalid token") }
        return .allow(role)
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

    /// Whether two tokens are the same, compared by their SHA-256 digests with OpenSSL's
    /// constant-time `CRYPTO_memcmp`: the time taken reveals neither how much of a guessed
    /// token was right nor how long the real one is, and tokens of any lengths compare in
    /// full (a token followed by extra bytes, NUL or not, is another token).
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        guard let x = sha256(a), let y = sha256(b) else { return false }
        return constantTimeEquals(x, y)
    }

    /// Two digests of 32 bytes, compared in constant time.
    private static func constantTimeEquals(_ x: [UInt8], _ y: [UInt8]) -> Bool {
        guard x.count == 32, y.count == 32 else { return false }
        return x.withUnsafeBytes { x in y.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, 32) == 0 } }
    }

    private static func sha256(_ text: String) -> [UInt8]? {
        var digest = [UInt8](repeating: 0, count: 32)
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { eddy_sha256(input.baseAddress, input.count, $0.baseAddress) }
        }
        return ok == 1 ? digest : nil
    }
}

extension String {
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
