import EddyHTTPCore

/// One element of a `Sec-WebSocket-Extensions` header: an extension name and its
/// parameters in order (RFC 6455 §9.1).
///
/// Guarantees: names and parameter names are tokens; values are tokens (a quoted
/// value is unquoted, and must then be a token, as §9.1 requires).
public struct WebSocketExtensionOffer: Sendable, Equatable {
    public var name: String
    public var parameters: [WebSocketExtensionParameter]

    public init(name: String, parameters: [WebSocketExtensionParameter] = []) {
        self.name = name
        self.parameters = parameters
    }

    /// The header element text, e.g. `permessage-deflate; client_max_window_bits=12`.
    public var headerValue: String {
        var text = name
        for parameter in parameters {
            text += "; " + parameter.name
            if let value = parameter.value { text += "=" + value }
        }
        return text
    }

    /// Parses every `Sec-WebSocket-Extensions` field value (they concatenate, RFC 9110
    /// §5.3). Returns nil when any element is malformed.
    public static func parse(_ fieldValues: [String]) -> [WebSocketExtensionOffer]? {
        var offers: [WebSocketExtensionOffer] = []
        for value in fieldValues {
            guard let parsed = parse(value) else { return nil }
            offers.append(contentsOf: parsed)
        }
        return offers
    }

    static func parse(_ text: String) -> [WebSocketExtensionOffer]? {
        var scanner = ExtensionScanner(Array(text.utf8))
        var offers: [WebSocketExtensionOffer] = []
        while true {
            scanner.skipWhitespace()
            if scanner.atEnd { break }
            if scanner.peek == UInt8(ascii: ",") { scanner.advance(); continue }  // empty list element
            guard let name = scanner.token() else { return nil }
            var offer = WebSocketExtensionOffer(name: name)
            scanner.skipWhitespace()
            while scanner.peek == UInt8(ascii: ";") {
                scanner.advance()
                scanner.skipWhitespace()
                guard let parameterName = scanner.token() else { return nil }
                scanner.skipWhitespace()
                var value: String?
                if scanner.peek == UInt8(ascii: "=") {
                    scanner.advance()
                    scanner.skipWhitespace()
                    if scanner.peek == UInt8(ascii: "\"") {
                        guard let quoted = scanner.quotedString(), !quoted.isEmpty,
                              quoted.utf8.allSatisfy(isTokenByte) else { return nil }
                        value = quoted
                    } else {
                        guard let token = scanner.token() else { return nil }
                        value = token
                    }
                    scanner.skipWhitespace()
                }
                offer.parameters.append(WebSocketExtensionParameter(name: parameterName, value: value))
            }
            offers.append(offer)
            scanner.skipWhitespace()
            if scanner.atEnd { break }
            guard scanner.peek == UInt8(ascii: ",") else { return nil }
            scanner.advance()
        }
        return offers
    }
}

/// One `name[=value]` extension parameter.
public struct WebSocketExtensionParameter: Sendable, Equatable {
    public var name: String
    public var value: String?

    public init(name: String, value: String? = nil) {
        self.name = name
        self.value = value
    }
}

private struct ExtensionScanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    mutating func advance() { index += 1 }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 { index += 1 }
    }

    mutating func token() -> String? {
        let start = index
        while let byte = peek, isTokenByte(byte) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// RFC 9110 §5.6.4 quoted-string; returns the unescaped content.
    mutating func quotedString() -> String? {
        guard peek == UInt8(ascii: "\"") else { return nil }
        index += 1
        var content: [UInt8] = []
        while let byte = peek {
            index += 1
            if byte == UInt8(ascii: "\"") { return String(decoding: content, as: UTF8.self) }
            if byte == UInt8(ascii: "\\") {
                guard let escaped = peek else { return nil }
                index += 1
                content.append(escaped)
            } else {
                content.append(byte)
            }
        }
        return nil
    }
}
