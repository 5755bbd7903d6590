import EddyHTTPCore

/// Why a handshake failed.
///
/// Server side, `status` is the HTTP status Eddy answers with (400, 403, 426, or 500
/// if OpenSSL itself fails); the
/// response is built by `WebSocketServerHandshake`. Client side, it says which rule of
/// RFC 6455 §4.1 the server's response broke. `description` is safe to log.
public struct WebSocketHandshakeError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        // server side (RFC 6455 §4.2.1)
        case methodNotGet
        case versionTooOld
        case missingHost
        case missingUpgrade
        case missingConnectionUpgrade
        case invalidKey
        case unsupportedVersion
        case originNotAllowed
        case malformedExtensions
        case malformedSubprotocols
        case cryptoFailure
        // client side (§4.1, §4.2.2)
        case invalidURL(String)
        case unexpectedStatus(Int)
        case acceptMismatch
        case unexpectedSubprotocol
        case unexpectedExtension
        case invalidExtensionParameters
        case malformedResponse
        case randomFailure
    }

    package let kind: Kind

    package init(_ kind: Kind) { self.kind = kind }

    /// The status a server answers with for this failure.
    public var status: HTTPStatus {
        switch kind {
        case .unsupportedVersion: return .upgradeRequired
        case .originNotAllowed: return .forbidden
        case .cryptoFailure: return .internalServerError
        default: return .badRequest
        }
    }

    public var description: String {
        switch kind {
        case .methodNotGet: return "handshake method is not GET"
        case .versionTooOld: return "handshake needs HTTP/1.1 or later"
        case .missingHost: return "missing Host"
        case .missingUpgrade: return "missing Upgrade: websocket"
        case .missingConnectionUpgrade: return "missing Connection: Upgrade"
        case .invalidKey: return "Sec-WebSocket-Key is not base64 of 16 bytes"
        case .unsupportedVersion: return "Sec-WebSocket-Version is not 13"
        case .originNotAllowed: return "origin not allowed"
        case .malformedExtensions: return "malformed Sec-WebSocket-Extensions"
        case .malformedSubprotocols: return "malformed Sec-WebSocket-Protocol"
        case .cryptoFailure: return "OpenSSL SHA-1 failed"
        case .invalidURL(let reason): return "invalid WebSocket URL: \(reason)"
        case .unexpectedStatus(let code): return "expected status 101, got \(code)"
        case .acceptMismatch: return "Sec-WebSocket-Accept does not match the key"
        case .unexpectedSubprotocol: return "server chose a subprotocol that was not offered"
        case .unexpectedExtension: return "server chose an extension that was not offered"
        case .invalidExtensionParameters: return "server's permessage-deflate parameters are invalid"
        case .malformedResponse: return "malformed handshake response"
        case .randomFailure: return "secure random generator failed"
        }
    }
}
