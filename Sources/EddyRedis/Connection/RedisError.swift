public import EddyRedisCore

/// Why a Redis operation failed.
///
/// Guarantee: no case carries a password, and descriptions name the endpoint only through
/// `RedisEndpoint.description` (password redacted).
public enum RedisError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an error reply (`ERR …`, `WRONGTYPE …`).
    case server(String)
    /// The server refused the login (`WRONGPASS`, `NOAUTH`), with what it said.
    case authentication(String)
    /// A reply did not come within its deadline; the connection was closed.
    case timedOut(command: String, after: Duration)
    /// The connection closed (or was never made) before the reply came.
    case connectionClosed(String)
    /// The server cannot be reached; `retryIn` is when the client tries again.
    case unavailable(endpoint: String, reason: String, retryIn: Duration?)
    /// The server sent bytes that are not valid RESP, or that exceed the limits.
    case protocolViolation(RESPParseError)
    /// A `redis://` URL that does not parse.
    case invalidURL(String)

    public var description: String {
        switch self {
        case .server(let message): return "Redis error: \(message)"
        case .authentication(let message): return "Redis refused the login: \(message)"
        case .timedOut(let command, let after): return "Redis did not answer \(command) within \(after)"
        case .connectionClosed(let reason): return "Redis connection closed: \(reason)"
        case .unavailable(let endpoint, let reason, let retryIn):
            return "Redis at \(endpoint) is unavailable (\(reason))" + (retryIn.map { "; retrying in \($0.secondsText)" } ?? "")
        case .protocolViolation(let error): return "Redis protocol violation: \(error)"
        case .invalidURL(let reason): return "invalid Redis URL: \(reason)"
        }
    }
}
