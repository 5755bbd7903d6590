/// A parsed response head (status line and headers), as a client sees it.
///
/// Guarantees: `statusCode` is three digits; headers are as received.
public struct HTTPResponseHead: Sendable, Equatable {
    public var version: HTTPVersion
    public var statusCode: Int
    public var reasonPhrase: String
    public var headers: HTTPHeaders

    public init(version: HTTPVersion = .http1_1, statusCode: Int, reasonPhrase: String, headers: HTTPHeaders) {
        self.version = version
        self.statusCode = statusCode
        self.reasonPhrase = reasonPhrase
        self.headers = headers
    }
}

/// Incremental, bounded parser for a response head (used by the WebSocket client
/// handshake, where the 101 response has no body and WebSocket frames may follow in
/// the same read).
///
/// Guarantees: same chunking and limit behaviour as `HTTPRequestParser`; `.head`
/// reports how many input bytes belonged to the head so the caller keeps the rest.
public struct HTTPResponseHeadParser: Sendable {
    /// The outcome of one `parse` call.
    public enum Result: Sendable, Equatable {
        case needMoreData
        case head(HTTPResponseHead, consumed: Int)
        case failure(HTTPParseError)
    }

    private var accumulator: HTTPHeadAccumulator
    private let limits: HTTPParserLimits

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        self.accumulator = HTTPHeadAccumulator(
            maxFirstLineBytes: limits.maxRequestLineBytes, maxHeadBytes: limits.maxHeadBytes)
    }

    public mutating func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBytes { parse($0) }
    }

    public mutating func parse(_ input: UnsafeRawBufferPointer) -> Result {
        switch accumulator.append(input) {
        case .needMoreData: return .needMoreData
        case .failure(let error): return .failure(error)
        case .head(let head, let consumed):
            switch HTTPHeadLines.split(head, maxHeaderCount: limits.maxHeaderCount) {
            case .failure(let error): return .failure(error)
            case .success(let lines):
                // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
                let line = lines.startLine
                guard line.count >= 12, let version = parseHTTPVersion(line[0..<8]), line[8] == 0x20,
                      line[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    return .failure(.malformed("status line"))
                }
                if line.count > 12 && line[12] != 0x20 { return .failure(.malformed("status line")) }
                let code = line[9...11].reduce(0) { $0 * 10 + Int($1 - 0x30) }
                let reason = line.count > 13 ? String(decoding: line[13...], as: UTF8.self) : ""
                return .head(HTTPResponseHead(version: version, statusCode: code, reasonPhrase: reason, headers: lines.headers), consumed: consumed)
            }
        }
    }
}
