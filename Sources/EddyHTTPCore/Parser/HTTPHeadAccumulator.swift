/// Collects the bytes of one message head (up to and including the empty line) from
/// arbitrarily chunked input, enforcing the line and size limits, and CRLF line ends, as
/// bytes arrive.
/// Internal building block of the request and response parsers.
struct HTTPHeadAccumulator: Sendable {
    enum Step {
        /// All input was consumed; the head is not complete yet.
        case needMoreData
        /// The head is complete; `consumed` bytes of this input belonged to it.
        case head([UInt8], consumed: Int)
        case failure(HTTPParseError)
    }

    let maxFirstLineBytes: Int
    let maxHeadBytes: Int
    private var buffer: [UInt8] = []
    private var firstLineDone = false

    init(maxFirstLineBytes: Int, maxHeadBytes: Int) {
        self.maxFirstLineBytes = maxFirstLineBytes
        self.maxHeadBytes = maxHeadBytes
    }

    var hasPartialHead: Bool { !buffer.isEmpty }

    mutating func reset() {
        buffer = []
        firstLineDone = false
    }

    mutating func append(_ input: UnsafeRawBufferPointer) -> Step {
        var index = 0
        while index < input.count {
            let byte = input[index]
            index += 1
            // RFC 9112 §2.2: ignore empty lines received before the start line.
            if buffer.isEmpty && (byte == 0x0D || byte == 0x0A) {
                continue
            }
            buffer.append(byte)
            if !firstLineDone {
                if byte == 0x0A {
                    firstLineDone = true
                    if buffer.count - 2 > maxFirstLineBytes { return .failure(.uriTooLong) }
                } else if buffer.count > maxFirstLineBytes + 1 {
                    return .failure(.uriTooLong)
                }
            }
            if buffer.count > maxHeadBytes { return .failure(.headersTooLarge) }
            let n = buffer.count
            // RFC 9112 §2.2 lets a server accept a bare LF as a line end; Eddy refuses it,
            // and a bare CR, as soon as it arrives (400), rather than wait for a CRLF CRLF
            // that such a client will never send.
            if byte == 0x0A, n < 2 || buffer[n - 2] != 0x0D { return .failure(.malformed("bare LF")) }
            if n >= 2, buffer[n - 2] == 0x0D, byte != 0x0A { return .failure(.malformed("bare CR")) }
            if byte == 0x0A, n >= 4, buffer[n - 2] == 0x0D, buffer[n - 3] == 0x0A, buffer[n - 4] == 0x0D {
                let head = buffer
                reset()
                return .head(head, consumed: index)
            }
        }
        return .needMoreData
    }
}

/// A head split into its start line and header fields, strictly per RFC 9112 §2–§5.
enum HTTPHeadLines {
    /// Splits `head` (which ends in CRLF CRLF) into lines. Bare CR or LF inside a line,
    /// obsolete line folding, whitespace before the colon, an empty or non-token field
    /// name and control characters in a value are malformed (400).
    static func split(_ head: [UInt8], maxHeaderCount: Int) -> Result<(startLine: [UInt8], headers: HTTPHeaders), HTTPParseError> {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = 0
        var i = 0
        while i < head.count {
            let byte = head[i]
            if byte == 0x0D {
                guard i + 1 < head.count, head[i + 1] == 0x0A else { return .failure(.malformed("bare CR")) }
                lines.append(head[lineStart..<i])
                i += 2
                lineStart = i
                continue
            }
            if byte == 0x0A { return .failure(.malformed("bare LF")) }
            i += 1
        }
        // The last line is the empty terminator.
        guard lines.count >= 2, let last = lines.last, last.isEmpty else {
            return .failure(.malformed("unterminated head"))
        }
        let fieldLines = lines[1..<(lines.count - 1)]
        if fieldLines.count > maxHeaderCount { return .failure(.headersTooLarge) }
        var headers = HTTPHeaders()
        for line in fieldLines {
            guard let first = line.first else { return .failure(.malformed("empty field line")) }
            if first == 0x20 || first == 0x09 { return .failure(.malformed("obsolete line folding")) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(.malformed("field without colon"))
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
                return .failure(.malformed("invalid field name"))
            }
            var valueStart = colon + 1
            var valueEnd = line.endIndex
            while valueStart < valueEnd, line[valueStart] == 0x20 || line[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, line[valueEnd - 1] == 0x20 || line[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = line[valueStart..<valueEnd]
            for byte in value where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                return .failure(.malformed("control character in field value"))
            }
            headers.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        }
        return .success((startLine: Array(lines[0]), headers: headers))
    }
}

/// RFC 9110 §5.6.2 tchar: the one table of token characters, for the HTTP parser and for
/// the WebSocket core's header grammars (extensions, subprotocols).
@inline(__always)
package func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

/// Parses `HTTP/d.d` (RFC 9112 §2.3). Returns nil when the text is not of that shape.
func parseHTTPVersion(_ bytes: ArraySlice<UInt8>) -> HTTPVersion? {
    let text = Array(bytes)
    guard text.count == 8, text[0...4].elementsEqual("HTTP/".utf8), text[6] == UInt8(ascii: "."),
          (0x30...0x39).contains(text[5]), (0x30...0x39).contains(text[7]) else { return nil }
    return HTTPVersion(major: Int(text[5] - 0x30), minor: Int(text[7] - 0x30))
}
