/// Why a message could not be decoded.
///
/// Guarantees: decoding never traps; malformed JSON, an unknown `type`, a missing or mistyped
/// field and an unsupported `v` each produce one of these, with a readable description that
/// reveals nothing about server internals.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case malformedJSON(String)
        case unknownType(String)
        case missingField(String)
        case invalidField(String, String)
        case unsupportedVersion(Int64)
        case notAnObject
    }
    private let base: Base
    private init(_ base: Base) { self.base = base }

    static func malformedJSON(_ error: JSONParseError) -> ProtocolError { ProtocolError(.malformedJSON(error.description)) }
    static func unknownType(_ type: String) -> ProtocolError { ProtocolError(.unknownType(type)) }
    static func missingField(_ field: String) -> ProtocolError { ProtocolError(.missingField(field)) }
    static func invalidField(_ field: String, _ why: String) -> ProtocolError { ProtocolError(.invalidField(field, why)) }
    static func unsupportedVersion(_ version: Int64) -> ProtocolError { ProtocolError(.unsupportedVersion(version)) }
    static let notAnObject = ProtocolError(.notAnObject)

    /// Whether the message had a `type` this side does not know (the others are malformed messages).
    public var isUnknownType: Bool {
        if case .unknownType = base { return true }
        return false
    }

    /// The unknown `type` value, if that was the problem.
    public var unknownTypeName: String? {
        if case .unknownType(let type) = base { return type }
        return nil
    }

    public var description: String {
        switch base {
        case .malformedJSON(let message): return "malformed message: \(message)"
        case .unknownType(let type): return "unknown message type '\(type)'"
        case .missingField(let field): return "missing field '\(field)'"
        case .invalidField(let field, let why): return "invalid field '\(field)': \(why)"
        case .unsupportedVersion(let version): return "unsupported protocol version \(version)"
        case .notAnObject: return "a message must be a JSON object"
        }
    }
}
