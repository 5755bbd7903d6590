/// The payload of a Close frame (RFC 6455 §5.5.1): an optional status code and an
/// optional UTF-8 reason.
///
/// Guarantees: `parse` accepts exactly what §5.5.1 and §7.4 allow — an empty payload,
/// or a two-byte valid code followed by at most 123 bytes of valid UTF-8 — and reports
/// 1002 for a one-byte payload or an invalid code and 1007 for an invalid reason.
/// `encode` produces at most 125 bytes.
public struct WebSocketCloseFrame: Sendable, Equatable {
    /// nil when the Close frame had an empty payload (the status is then 1005).
    public var code: WebSocketCloseCode?
    public var reason: String

    public init(code: WebSocketCloseCode?, reason: String = "") {
        self.code = code
        self.reason = reason
    }

    /// Parses a received Close payload.
    public static func parse(_ payload: [UInt8]) -> Result<WebSocketCloseFrame, WebSocketProtocolError> {
        if payload.isEmpty { return .success(WebSocketCloseFrame(code: nil)) }
        guard payload.count >= 2 else { return .failure(.init(.closePayloadTooShort)) }
        let code = WebSocketCloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnWire else { return .failure(.init(.invalidCloseCode(code.rawValue))) }
        let reasonBytes = Array(payload[2...])
        guard UTF8Validator.isValid(reasonBytes) else { return .failure(.init(.invalidUTF8)) }
        return .success(WebSocketCloseFrame(code: code, reason: String(decoding: reasonBytes, as: UTF8.self)))
    }

    /// The payload bytes. The reason is truncated on a character boundary so the whole
    /// payload fits a control frame (125 bytes).
    public func encode() -> [UInt8] {
        guard let code else { return [] }
        var bytes: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var reasonBytes = Array(reason.utf8)
        if reasonBytes.count > 123 {
            var end = 123
            // Do not cut a multi-byte character: back up over continuation bytes.
            while end > 0 && reasonBytes[end] & 0xC0 == 0x80 { end -= 1 }
            reasonBytes = Array(reasonBytes[..<end])
        }
        bytes.append(contentsOf: reasonBytes)
        return bytes
    }
}
