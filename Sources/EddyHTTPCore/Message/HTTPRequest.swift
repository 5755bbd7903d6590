/// A parsed HTTP/1.x request: head plus (possibly empty) Content-Length body.
///
/// Guarantees: produced only by `HTTPRequestParser` or by tests; `path` is the raw
/// (still percent-encoded) path component of an origin-form target, so routing never
/// confuses an encoded `/` with a segment separator; `queryItems` are percent-decoded
/// with `+` read as a space (the form encoding browsers use); header lookups are
/// case-insensitive.
public struct HTTPRequest: Sendable, Equatable {
    public var method: HTTPMethod
    /// The request target exactly as sent on the request line.
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(
        method: HTTPMethod,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = []
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The path component of the target (before `?`), still percent-encoded.
    /// For an absolute-form target (`http://host/p`) the path after the authority.
    public var path: String {
        var rest = Substring(target)
        if let schemeEnd = rest.firstRange(of: "://") {
            rest = rest[schemeEnd.upperBound...]
            if let slash = rest.firstIndex(of: "/") { rest = rest[slash...] } else { return "/" }
        }
        if let question = rest.firstIndex(of: "?") { rest = rest[..<question] }
        return String(rest)
    }

    /// The raw query string (after `?`), or nil when the target has none.
    public var query: String? {
        guard let question = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: question)...])
    }

    /// Query items in order, names and values percent-decoded (`+` is a space).
    /// Items whose encoding is invalid are kept with their raw text.
    public var queryItems: [(name: String, value: String?)] {
        guard let query else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            if let equals = item.firstIndex(of: "=") {
                let name = item[..<equals]
                let value = item[item.index(after: equals)...]
                return (name: percentDecoded(name, plusAsSpace: true) ?? String(name),
                        value: percentDecoded(value, plusAsSpace: true) ?? String(value))
            }
            return (name: percentDecoded(item, plusAsSpace: true) ?? String(item), value: nil)
        }
    }

    /// The value of the first query item with this name.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version
            && lhs.headers == rhs.headers && lhs.body == rhs.body
    }

    /// Cookies from every `Cookie` field (RFC 6265 §5.4: `name=value; name2=value2`).
    /// Values are not decoded; surrounding double quotes are removed.
    public var cookies: [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        for field in headers["Cookie"] {
            for pair in field.split(separator: ";") {
                let trimmed = trimOWS(Substring(pair))
                guard let equals = trimmed.firstIndex(of: "="), equals != trimmed.startIndex else { continue }
                let name = String(trimOWS(trimmed[..<equals]))
                var value = trimOWS(trimmed[trimmed.index(after: equals)...])
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                result.append((name: name, value: String(value)))
            }
        }
        return result
    }

    /// The value of the first cookie with this name.
    public func cookie(_ name: String) -> String? {
        cookies.first { $0.name == name }?.value
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3):
    /// HTTP/1.1 defaults to persistent unless `Connection: close`; HTTP/1.0 is
    /// persistent only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        if headers.containsToken("close", inField: "Connection") { return false }
        if version == .http1_0 { return headers.containsToken("keep-alive", inField: "Connection") }
        return true
    }
}

/// Percent-decodes `text` (RFC 3986 §2.1). Returns nil for a malformed escape or when
/// the decoded bytes are not valid UTF-8.
public func percentDecoded(_ text: Substring, plusAsSpace: Bool = false) -> String? {
    let utf8 = Array(text.utf8)
    if !utf8.contains(UInt8(ascii: "%")) && !(plusAsSpace && utf8.contains(UInt8(ascii: "+"))) {
        return String(text)
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(utf8.count)
    var index = 0
    while index < utf8.count {
        let byte = utf8[index]
        if byte == UInt8(ascii: "%") {
            guard index + 2 < utf8.count, let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 3
        } else if plusAsSpace && byte == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
            index += 1
        } else {
            bytes.append(byte)
            index += 1
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
