/// One Redis reply (RESP2 or RESP3), as plain values: it owns its bytes and is safe to pass
/// between tasks.
///
/// Guarantees: a value built by `RESPParser` respects the parser's `RESPLimits` (bulk
/// lengths, aggregate lengths, nesting depth); RESP2's null bulk string and null array both
/// become `.null`, as RESP3's `_` does, so callers handle one "no value".
public enum RESPValue: Sendable, Hashable {
    /// `+OK`: a short, line-safe status.
    case simpleString(String)
    /// `-ERR …` or `!<len>` (RESP3's blob error): an error the server answered with.
    case error(String)
    /// `:<n>`.
    case integer(Int64)
    /// `$<len>`: binary-safe bytes (RESP3 verbatim strings `=` too, without their format prefix).
    case bulkString([UInt8])
    /// `$-1`, `*-1` or `_`.
    case null
    /// `,<double>` (RESP3).
    case double(Double)
    /// `#t` / `#f` (RESP3).
    case boolean(Bool)
    /// `(<big number>` (RESP3), kept as its decimal text.
    case bigNumber(String)
    /// `*<n>`.
    case array([RESPValue])
    /// `~<n>` (RESP3).
    case set([RESPValue])
    /// `%<n>` (RESP3): key/value pairs in the server's order.
    case map([RESPPair])
    /// `><n>` (RESP3): out-of-band data (pub/sub messages, invalidations), not a reply.
    case push([RESPValue])

    /// The text of a simple or bulk string (bulk bytes decoded as UTF-8, invalid bytes replaced).
    public var string: String? {
        switch self {
        case .simpleString(let text), .bigNumber(let text): return text
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The bytes of a bulk or simple string.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values): return values
        default: return nil
        }
    }

    /// The integer of `:<n>`.
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

/// One key/value pair of a RESP3 map.
public struct RESPPair: Sendable, Hashable {
    /// The pair's key, as the server sent it.
    public var key: RESPValue
    /// The value stored under `key`.
    public var value: RESPValue

    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}
