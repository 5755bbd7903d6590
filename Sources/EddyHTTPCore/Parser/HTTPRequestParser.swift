/// Incremental, bounded HTTP/1.1 request parser (sans-IO).
///
/// Feed it bytes as they arrive, in any chunking; it returns one outcome per call:
/// - `.needMoreData`: every byte was consumed and buffered; call again with more.
/// - `.request(request, consumed:)`: a complete request (head and Content-Length body).
///   Only the first `consumed` bytes of this input belonged to it; the rest (a
///   pipelined request, or WebSocket frames after an upgrade) stays with the caller,
///   who feeds it again (or hands it to the next protocol). The parser is then ready
///   for the next request.
/// - `.failure(error)`: answer `error.status` (see `HTTPParseError`) and close.
///
/// Guarantees: limits from `HTTPParserLimits` are enforced as bytes arrive; the
/// parser never buffers more than the head limit plus the body limit. Request bodies
/// are supported only with Content-Length: any `Transfer-Encoding` is answered 501
/// (RFC 9112 §6.1 allows a server to refuse transfer codings it does not implement),
/// and Transfer-Encoding together with Content-Length is 400 (RFC 9112 §6.3,
/// request smuggling). HTTP/1.1 requests need exactly one Host (RFC 9112 §3.2).
public struct HTTPRequestParser: Sendable {
    private enum State: Sendable {
        case head
        /// Reading a Content-Length body into `body` (kept outside the enum so appends
        /// do not copy it).
        case body(HTTPRequest, remaining: Int)
        case failed(HTTPParseError)
    }

    public let limits: HTTPParserLimits
    private var state: State = .head
    private var accumulator: HTTPHeadAccumulator
    private var body: [UInt8] = []

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        self.accumulator = HTTPHeadAccumulator(
            maxFirstLineBytes: limits.maxRequestLineBytes, maxHeadBytes: limits.maxHeadBytes)
    }

    /// Whether a request has started but is not complete (for idle/read timeouts:
    /// a timeout with a partial request is 408, without one the connection just closes).
    public var hasPartialRequest: Bool {
        switch state {
        case .head: return accumulator.hasPartialHead
        case .body: return true
        case .failed: return false
        }
    }

    public mutating func parse(_ bytes: [UInt8]) -> HTTPParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    public mutating func parse(_ input: UnsafeRawBufferPointer) -> HTTPParseResult {
        switch state {
        case .failed(let error):
            return .failure(error)
        case .body(let request, let remaining):
            return continueBody(request, remaining: remaining, input: input, offset: 0)
        case .head:
            switch accumulator.append(input) {
            case .needMoreData:
                return .needMoreData
            case .failure(let error):
                state = .failed(error)
                return .failure(error)
            case .head(let head, let consumed):
                switch Self.makeRequest(head: head, limits: limits) {
                case .failure(let error):
                    state = .failed(error)
                    return .failure(error)
                case .success(let (request, bodyLength)):
                    if bodyLength == 0 {
                        state = .head
                        return .request(request, consumed: consumed)
                    }
                    // Reserve at most 64 KiB up front: a header alone must not make the
                    // server allocate the whole body limit.
                    body = []
                    body.reserveCapacity(min(bodyLength, 64 * 1024))
                    return continueBody(request, remaining: bodyLength, input: input, offset: consumed)
                }
            }
        }
    }

    private mutating func continueBody(
        _ request: HTTPRequest, remaining: Int, input: UnsafeRawBufferPointer, offset: Int
    ) -> HTTPParseResult {
        let available = input.count - offset
        let take = min(available, remaining)
        if take > 0 {
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)]))
        }
        if take == remaining {
            state = .head
            var request = request
            request.body = body
            body = []
            return .request(request, consumed: offset + take)
        }
        state = .body(request, remaining: remaining - take)
        return .needMoreData
    }

    /// Builds a request from a complete head; returns the Content-Length to read.
    static func makeRequest(head: [UInt8], limits: HTTPParserLimits) -> Result<(HTTPRequest, Int), HTTPParseError> {
        let lines: (startLine: [UInt8], headers: HTTPHeaders)
        switch HTTPHeadLines.split(head, maxHeaderCount: limits.maxHeaderCount) {
        case .failure(let error): return .failure(error)
        case .success(let value): lines = value
        }
        // RFC 9112 §3: request-line = method SP request-target SP HTTP-version
        let parts = lines.startLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.malformed("request line")) }
        let methodBytes = parts[0], targetBytes = parts[1], versionBytes = parts[2]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(isTokenByte) else {
            return .failure(.malformed("method"))
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.malformed("request target"))
        }
        guard let version = parseHTTPVersion(versionBytes) else { return .failure(.malformed("version")) }
        guard version.major == 1, version.minor <= 1 else { return .failure(.unsupportedVersion) }
        let method = HTTPMethod(String(decoding: methodBytes, as: UTF8.self))
        let target = String(decoding: targetBytes, as: UTF8.self)
        // RFC 9112 §3.2: origin-form, absolute-form, or asterisk-form for OPTIONS.
        let isOrigin = targetBytes.first == UInt8(ascii: "/")
        let isAbsolute = target.hasPrefix("http://") || target.hasPrefix("https://")
        let isAsterisk = target == "*" && method == .options
        guard isOrigin || isAbsolute || isAsterisk else { return .failure(.malformed("request target form")) }

        let headers = lines.headers
        let hosts = headers["Host"]
        if hosts.count > 1 || (version == .http1_1 && hosts.isEmpty) {
            return .failure(.malformed("Host"))
        }

        let contentLengths = headers.listValues(name: "Content-Length")
        let hasTransferEncoding = headers.contains(name: "Transfer-Encoding")
        if hasTransferEncoding {
            if headers.contains(name: "Content-Length") { return .failure(.malformed("Transfer-Encoding with Content-Length")) }
            return .failure(.unsupportedTransferEncoding)
        }
        var bodyLength = 0
        if headers.contains(name: "Content-Length") {
            guard let first = contentLengths.first, contentLengths.allSatisfy({ $0 == first }),
                  first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return .failure(.malformed("Content-Length"))
            }
            // More than 18 digits cannot fit any sane limit; do not overflow Int.
            guard first.utf8.count <= 18, let length = Int(first) else { return .failure(.bodyTooLarge) }
            guard length <= limits.maxBodyBytes else { return .failure(.bodyTooLarge) }
            bodyLength = length
        }
        return .success((HTTPRequest(method: method, target: target, version: version, headers: headers), bodyLength))
    }
}

/// The outcome of feeding bytes to `HTTPRequestParser`.
public enum HTTPParseResult: Sendable, Equatable {
    case needMoreData
    case request(HTTPRequest, consumed: Int)
    case failure(HTTPParseError)
}
