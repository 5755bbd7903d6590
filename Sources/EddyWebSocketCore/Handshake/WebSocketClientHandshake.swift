import EddyHTTPCore

/// The client side of the opening handshake (RFC 6455 §4.1), without I/O.
///
/// Build it, write `requestBytes`, feed the response bytes to an
/// `HTTPResponseHeadParser`, and pass the head to `validate(_:)`. Bytes after the head
/// are WebSocket frames: hand them to the `WebSocketProtocol` built from the
/// agreement.
///
/// Guarantees: the key is 16 bytes from OpenSSL's `RAND_bytes` (or the one supplied for
/// tests); `validate` accepts only a 101 with `Upgrade: websocket`,
/// `Connection: Upgrade`, the matching `Sec-WebSocket-Accept`, a subprotocol that was
/// offered (or none), and permessage-deflate parameters consistent with the offer.
public struct WebSocketClientHandshake: Sendable {
    public let url: WebSocketURL
    public let key: String
    public let subprotocols: [String]
    public let deflate: PerMessageDeflateConfiguration
    public let requestBytes: [UInt8]

    public init(
        url: WebSocketURL,
        subprotocols: [String] = [],
        extraHeaders: HTTPHeaders = HTTPHeaders(),
        origin: String? = nil,
        deflate: PerMessageDeflateConfiguration = PerMessageDeflateConfiguration(),
        key: String? = nil
    ) throws(WebSocketHandshakeError) {
        guard let key = key ?? WebSocketAccept.generateKey() else { throw .init(.randomFailure) }
        self.url = url
        self.key = key
        self.subprotocols = subprotocols
        self.deflate = deflate
        var lines = "GET \(url.resource) HTTP/1.1\r\n"
        lines += "Host: \(url.hostHeader)\r\n"
        lines += "Upgrade: websocket\r\n"
        lines += "Connection: Upgrade\r\n"
        lines += "Sec-WebSocket-Key: \(key)\r\n"
        lines += "Sec-WebSocket-Version: 13\r\n"
        if let origin { lines += "Origin: \(origin)\r\n" }
        if !subprotocols.isEmpty { lines += "Sec-WebSocket-Protocol: \(subprotocols.joined(separator: ", "))\r\n" }
        let offers = PerMessageDeflateNegotiation.clientOffers(configuration: deflate)
        if !offers.isEmpty {
            lines += "Sec-WebSocket-Extensions: \(offers.map(\.headerValue).joined(separator: ", "))\r\n"
        }
        for (name, value) in extraHeaders {
            guard !name.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }),
                  !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else {
                throw .init(.invalidURL("header contains CR or LF"))
            }
            lines += "\(name): \(value)\r\n"
        }
        lines += "\r\n"
        requestBytes = Array(lines.utf8)
    }

    /// Checks the server's response head (RFC 6455 §4.1, client requirements 1–6).
    public func validate(_ response: HTTPResponseHead) -> Result<WebSocketClientAgreement, WebSocketHandshakeError> {
        guard response.statusCode == 101 else { return .failure(.init(.unexpectedStatus(response.statusCode))) }
        let headers = response.headers
        guard headers.containsToken("websocket", inField: "Upgrade") else { return .failure(.init(.missingUpgrade)) }
        guard headers.containsToken("Upgrade", inField: "Connection") else {
            return .failure(.init(.missingConnectionUpgrade))
        }
        guard let expected = WebSocketAccept.acceptValue(forKey: key),
              headers["Sec-WebSocket-Accept"] == [expected] else { return .failure(.init(.acceptMismatch)) }
        let chosen = headers.listValues(name: "Sec-WebSocket-Protocol")
        var subprotocol: String?
        if !chosen.isEmpty {
            guard chosen.count == 1, let only = chosen.first, subprotocols.contains(only) else {
                return .failure(.init(.unexpectedSubprotocol))
            }
            subprotocol = only
        }
        guard let extensions = WebSocketExtensionOffer.parse(headers["Sec-WebSocket-Extensions"]) else {
            return .failure(.init(.invalidExtensionParameters))
        }
        switch PerMessageDeflateNegotiation.clientValidate(response: extensions, configuration: deflate) {
        case .failure(let error): return .failure(error)
        case .success(let parameters):
            return .success(WebSocketClientAgreement(subprotocol: subprotocol, deflate: parameters))
        }
    }
}

/// What the server agreed to, from the client's point of view.
public struct WebSocketClientAgreement: Sendable, Equatable {
    public let subprotocol: String?
    public let deflate: PerMessageDeflateParameters?
}
