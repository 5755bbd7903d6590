/// A WebSocket close status code (RFC 6455 §7.4).
///
/// Guarantees: `isValidOnWire` is the set Eddy accepts in a received Close frame:
/// 1000–1003, 1007–1011 (RFC 6455 §7.4.1) and 3000–4999 (registered and private use,
/// §7.4.2). Everything else — 0–999, 1004, the local-only 1005/1006/1015, unassigned
/// 1012–2999 and ≥ 5000 — fails the connection with 1002, as Autobahn case 7.9 expects.
/// The same set is what `sendClose` accepts from the application.
public struct WebSocketCloseCode: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection was fulfilled.
    public static let normalClosure = WebSocketCloseCode(1000)
    /// 1001: server shutdown, page navigation, or idle timeout.
    public static let goingAway = WebSocketCloseCode(1001)
    /// 1002: the peer violated the protocol.
    public static let protocolError = WebSocketCloseCode(1002)
    /// 1003: a data type the endpoint cannot accept.
    public static let unsupportedData = WebSocketCloseCode(1003)
    /// 1005: local only — the Close frame carried no status code.
    public static let noStatusReceived = WebSocketCloseCode(1005)
    /// 1006: local only — the connection closed without a Close frame.
    public static let abnormalClosure = WebSocketCloseCode(1006)
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text, invalid
    /// compressed data).
    public static let invalidFramePayloadData = WebSocketCloseCode(1007)
    /// 1008: a policy violation.
    public static let policyViolation = WebSocketCloseCode(1008)
    /// 1009: a frame or message too big to process.
    public static let messageTooBig = WebSocketCloseCode(1009)
    /// 1010: the client needed an extension the server did not negotiate.
    public static let mandatoryExtension = WebSocketCloseCode(1010)
    /// 1011: an unexpected condition (Eddy also uses it for a keep-alive pong timeout).
    public static let internalError = WebSocketCloseCode(1011)
    /// 1015: local only — TLS handshake failure.
    public static let tlsHandshakeFailure = WebSocketCloseCode(1015)

    /// Whether this code may appear in a Close frame on the wire.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }

    /// Whether Eddy may send this code: the codes valid on the wire plus 1012 (service
    /// restart), 1013 (try again later) and 1014 (bad gateway), which IANA registered
    /// after RFC 6455 and which servers use to shed load. Eddy still refuses them when
    /// received, with 1002, as its conformance profile requires.
    public var isSendable: Bool {
        isValidOnWire || (1012...1014).contains(rawValue)
    }

    public static let serviceRestart = WebSocketCloseCode(1012)
    public static let tryAgainLater = WebSocketCloseCode(1013)

    public var description: String { String(rawValue) }
}
