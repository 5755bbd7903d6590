import EddyHTTPCore

/// Server handshake settings.
///
/// Defaults: no subprotocols, any origin, permessage-deflate enabled with
/// `PerMessageDeflateConfiguration.server`: Eddy's small windows and
/// `server_no_context_takeover`, so a connection shares its loop's compressor and holds
/// only a decompressor (≈ 11 KiB once used; ≈ 50 KiB with context takeover).
public struct WebSocketServerHandshakeConfiguration: Sendable, Equatable {
    /// Subprotocols in server preference order (§4.2.2 item 5.4 leaves the choice
    /// to the server; Eddy picks its own most preferred one the client offered).
    public var subprotocols: [String]
    public var originPolicy: WebSocketOriginPolicy
    public var deflate: PerMessageDeflateConfiguration

    public init(
        subprotocols: [String] = [],
        originPolicy: WebSocketOriginPolicy = .any,
        deflate: PerMessageDeflateConfiguration = .server
    ) {
        self.subprotocols = subprotocols
        self.originPolicy = originPolicy
        self.deflate = deflate
    }
}

/// The server side of the opening handshake (RFC 6455 §4.2), without I/O.
///
/// `negotiate(_:)` checks every requirement of §4.2.1 in order — GET, HTTP/1.1 or
/// later, Host, `Upgrade` containing the `websocket` token, `Connection` containing the
/// `Upgrade` token, `Sec-WebSocket-Version: 13` (else 426 with
/// `Sec-WebSocket-Version: 13`, §4.4), `Sec-WebSocket-Key` being base64 of 16 bytes,
/// the origin policy (403) — then chooses a subprotocol and permessage-deflate
/// parameters. The result is either an agreement that renders the exact 101 response,
/// or the exact error response.
///
/// Guarantees: never throws; every rejection carries a response with
/// `Connection: close` (400, 403, 426; 500 only if OpenSSL's SHA-1 fails).
/// Authentication belongs in a `WebSocketUpgradeHook`, run by the I/O layer
/// between `negotiate` and writing the 101.
public struct WebSocketServerHandshake: Sendable {
    /// Either an agreement (write its 101, after the hook agreed) or the exact error
    /// response to write before closing, with the reason for logs.
    public enum Outcome: Sendable, Equatable {
        case accept(WebSocketUpgradeAgreement)
        case reject(HTTPResponse, WebSocketHandshakeError)
    }

    public var configuration: WebSocketServerHandshakeConfiguration

    public init(configuration: WebSocketServerHandshakeConfiguration = WebSocketServerHandshakeConfiguration()) {
        self.configuration = configuration
    }

    public func negotiate(_ request: HTTPRequest) -> Outcome {
        switch validate(request) {
        case .failure(let error):
            var response = HTTPResponse.error(error.status)
            if error.kind == .unsupportedVersion {
                response.headers.add(name: "Sec-WebSocket-Version", value: "13")
            }
            return .reject(response, error)
        case .success(let agreement):
            return .accept(agreement)
        }
    }

    private func validate(_ request: HTTPRequest) -> Result<WebSocketUpgradeAgreement, WebSocketHandshakeError> {
        let headers = request.headers
        guard request.method == .get else { return .failure(.init(.methodNotGet)) }
        guard request.version.major > 1 || (request.version.major == 1 && request.version.minor >= 1) else {
            return .failure(.init(.versionTooOld))
        }
        guard let host = headers.first(name: "Host"), !host.isEmpty else { return .failure(.init(.missingHost)) }
        guard headers.containsToken("websocket", inField: "Upgrade") else { return .failure(.init(.missingUpgrade)) }
        guard headers.containsToken("Upgrade", inField: "Connection") else {
            return .failure(.init(.missingConnectionUpgrade))
        }
        let versions = headers.listValues(name: "Sec-WebSocket-Version")
        guard versions == ["13"] else { return .failure(.init(.unsupportedVersion)) }
        let keys = headers["Sec-WebSocket-Key"]
        guard keys.count == 1, let key = keys.first, WebSocketAccept.isValidKey(key) else {
            return .failure(.init(.invalidKey))
        }
        let origins = headers["Origin"]
        guard origins.count <= 1, configuration.originPolicy.allows(origins.first) else {
            return .failure(.init(.originNotAllowed))
        }
        let offeredProtocols = headers.listValues(name: "Sec-WebSocket-Protocol")
        guard offeredProtocols.allSatisfy({ $0.utf8.allSatisfy(isTokenByte) }) else {
            return .failure(.init(.malformedSubprotocols))
        }
        let subprotocol = configuration.subprotocols.first { offeredProtocols.contains($0) }
        guard let offers = WebSocketExtensionOffer.parse(headers["Sec-WebSocket-Extensions"]) else {
            return .failure(.init(.malformedExtensions))
        }
        let deflate = PerMessageDeflateNegotiation.serverAccept(offers: offers, configuration: configuration.deflate)
        // SHA-1 only fails if libcrypto is broken: our fault, answered 500.
        guard let accept = WebSocketAccept.acceptValue(forKey: key) else { return .failure(.init(.cryptoFailure)) }
        return .success(WebSocketUpgradeAgreement(acceptValue: accept, subprotocol: subprotocol, deflate: deflate))
    }
}

/// What the server agreed to in a successful handshake.
///
/// Guarantees: `response()` is the complete 101 response (§4.2.2 item 5): status line,
/// `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`, then the chosen
/// subprotocol and extension when there are any, then extra headers from the hook.
public struct WebSocketUpgradeAgreement: Sendable, Equatable {
    public let acceptValue: String
    public let subprotocol: String?
    public let deflate: PerMessageDeflateParameters?

    public init(acceptValue: String, subprotocol: String?, deflate: PerMessageDeflateParameters?) {
        self.acceptValue = acceptValue
        self.subprotocol = subprotocol
        self.deflate = deflate
    }

    public func response(extraHeaders: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers: HTTPHeaders = ["Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": acceptValue]
        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        if let deflate { headers.add(name: "Sec-WebSocket-Extensions", value: deflate.headerValue) }
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        return HTTPResponse(status: .switchingProtocols, headers: headers)
    }

    /// The 101 response bytes (nil only if an extra header contains CR/LF/NUL).
    public func responseBytes(extraHeaders: HTTPHeaders = HTTPHeaders()) -> [UInt8]? {
        response(extraHeaders: extraHeaders).serialize()
    }
}
