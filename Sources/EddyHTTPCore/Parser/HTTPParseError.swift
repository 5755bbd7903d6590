/// Why a request could not be parsed, and the status the server answers with.
///
/// Guarantees: `status` is one of 400, 413, 414, 431, 501, 505; after any of these the
/// connection must be closed (the parser cannot find the next request boundary).
/// `description` is safe to log; it never echoes request bytes.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Equatable, Sendable {
        case malformed(String)
        case uriTooLong
        case headersTooLarge
        case bodyTooLarge
        case unsupportedTransferEncoding
        case unsupportedVersion
    }

    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    static func malformed(_ reason: String) -> HTTPParseError { HTTPParseError(.malformed(reason)) }
    static let uriTooLong = HTTPParseError(.uriTooLong)
    static let headersTooLarge = HTTPParseError(.headersTooLarge)
    static let bodyTooLarge = HTTPParseError(.bodyTooLarge)
    static let unsupportedTransferEncoding = HTTPParseError(.unsupportedTransferEncoding)
    static let unsupportedVersion = HTTPParseError(.unsupportedVersion)

    /// The response status for this failure.
    public var status: HTTPStatus {
        switch kind {
        case .malformed: return .badRequest
        case .uriTooLong: return .uriTooLong
        case .headersTooLarge: return .requestHeaderFieldsTooLarge
        case .bodyTooLarge: return .contentTooLarge
        case .unsupportedTransferEncoding: return .notImplemented
        case .unsupportedVersion: return .httpVersionNotSupported
        }
    }

    public var description: String {
        switch kind {
        case .malformed(let reason): return "malformed request: \(reason)"
        case .uriTooLong: return "request line too long"
        case .headersTooLarge: return "header section too large"
        case .bodyTooLarge: return "body larger than the limit"
        case .unsupportedTransferEncoding: return "Transfer-Encoding is not supported"
        case .unsupportedVersion: return "HTTP version not supported"
        }
    }
}
