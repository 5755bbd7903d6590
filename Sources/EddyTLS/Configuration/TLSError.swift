/// A TLS failure, with OpenSSL's own words for it.
///
/// Guarantees: `reasons` holds the reason strings OpenSSL queued for the failing call (for
/// example `"certificate verify failed"`, `"wrong version number"`, `"unexpected eof while
/// reading"`), plus, when a certificate was refused, the verification result (`"certificate
/// has expired"`, `"hostname mismatch"` …); `description` says what Eddy was doing.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: Sendable, Hashable {
        /// The configuration cannot be used (a missing or unreadable certificate or key, a
        /// key that does not match the certificate, an invalid ALPN name …).
        case invalidConfiguration
        /// The handshake failed (protocol error, no common version or cipher, refused ALPN,
        /// plaintext sent to a TLS port …).
        case handshakeFailed
        /// The handshake failed because a certificate was refused (untrusted, expired,
        /// another name, missing when required).
        case certificateRejected
        /// The handshake did not finish within the configured timeout.
        case handshakeTimedOut
        /// The peer's transport ended without a close_notify alert: the data may have been
        /// cut short by an attacker or a crash, so it is not reported as a clean end.
        case truncated
        /// A protocol error after the handshake (a bad record, an alert from the peer).
        case protocolError
        /// The stream is not established (closed, failed, or still handshaking).
        case notEstablished
    }

    public let code: Code
    /// What Eddy was doing (`"handshake with 127.0.0.1:443"`, `"read"`, `"load privateKey"` …).
    public let operation: String
    /// OpenSSL's reason strings, oldest first.
    public let reasons: [String]

    public init(_ code: Code, operation: String, reasons: [String] = []) {
        self.code = code
        self.operation = operation
        self.reasons = reasons
    }

    public var description: String {
        let what: String
        switch code {
        case .invalidConfiguration: what = "invalid TLS configuration"
        case .handshakeFailed: what = "TLS handshake failed"
        case .certificateRejected: what = "certificate rejected"
        case .handshakeTimedOut: what = "TLS handshake timed out"
        case .truncated: what = "TLS stream truncated (transport ended without close_notify)"
        case .protocolError: what = "TLS protocol error"
        case .notEstablished: what = "TLS stream not established"
        }
        return reasons.isEmpty ? "\(operation): \(what)" : "\(operation): \(what): \(reasons.joined(separator: "; "))"
    }
}
