/// Why a `RESPParser` rejected its input. After one, the stream is out of step: close the
/// connection (the parser keeps throwing the same error).
///
/// Guarantee: the description names the offending limit or byte and never quotes payload data.
public enum RESPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A bulk string declared longer than `RESPLimits.maxBulkLength`.
    case bulkTooLong(length: Int, limit: Int)
    /// An aggregate declared with more elements than `RESPLimits.maxAggregateLength`.
    case aggregateTooLong(count: Int, limit: Int)
    /// Aggregates nested deeper than `RESPLimits.maxDepth`.
    case tooDeep(limit: Int)
    /// A line longer than `RESPLimits.maxLineLength` without its CRLF.
    case lineTooLong(limit: Int)
    /// A value began with a byte that is no RESP type.
    case unknownType(byte: UInt8)
    /// A length, integer, double or boolean that does not parse.
    case malformed(type: Character, reason: String)
    /// A bulk string not followed by CRLF.
    case missingTerminator

    public var description: String {
        switch self {
        case .bulkTooLong(let length, let limit): return "RESP bulk string of \(length) bytes exceeds the limit of \(limit)"
        case .aggregateTooLong(let count, let limit): return "RESP aggregate of \(count) elements exceeds the limit of \(limit)"
        case .tooDeep(let limit): return "RESP aggregates nested deeper than \(limit)"
        case .lineTooLong(let limit): return "RESP line longer than \(limit) bytes"
        case .unknownType(let byte): return "unknown RESP type byte 0x\(String(byte, radix: 16))"
        case .malformed(let type, let reason): return "malformed RESP '\(type)': \(reason)"
        case .missingTerminator: return "RESP bulk string not terminated by CRLF"
        }
    }
}
