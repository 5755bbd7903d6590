/// An HTTP/1.1 response and its serializer.
///
/// Guarantees: `serialize()` writes `HTTP/1.1 <code> <reason>\r\n`, the headers in
/// order, a `Content-Length` equal to the body size (unless the status forbids a body,
/// RFC 9110 §8.6; any caller-supplied Content-Length is replaced), then `\r\n` and the
/// body. Header names and values containing CR, LF or NUL are refused by `serialize`
/// (response splitting) with `nil`. `serialize(omittingBody: true)` is the answer to HEAD:
/// the same head, Content-Length included, and no body (RFC 9110 §9.3.2).
public struct HTTPResponse: Sendable, Equatable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// The plain-text error response Eddy sends for a status, with `Connection: close`
    /// when the connection must not be reused after a parse failure.
    public static func error(_ status: HTTPStatus, close: Bool = true) -> HTTPResponse {
        var response = HTTPResponse.text("\(status.code) \(status.reasonPhrase)\n", status: status)
        if close { response.headers.add(name: "Connection", value: "close") }
        return response
    }

    /// The wire bytes of this response, or nil when a header would break framing. With
    /// `omittingBody` (for HEAD) the head is the same, and the body is left out.
    public func serialize(omittingBody: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(64 + (omittingBody ? 0 : body.count) + headers.count * 32)
        out.append(contentsOf: "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n".utf8)
        for (name, value) in headers {
            if asciiCaseInsensitiveEquals(name, "Content-Length") { continue }
            guard isSafeHeaderText(name), !name.isEmpty, isSafeHeaderText(value) else { return nil }
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !status.forbidsBody {
            out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if !status.forbidsBody && !omittingBody { out.append(contentsOf: body) }
        return out
    }
}

private func isSafeHeaderText(_ text: String) -> Bool {
    !text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
}
