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

    static func malformedJSON(_ e: JSONParseError) -> ProtocolError { ProtocolError(.malformedJSON(e.description)) }
    static func unknownType(_ t: String) -> ProtocolError { ProtocolError(.unknownType(t)) }
    static func missingField(_ f: String) -> ProtocolError { ProtocolError(.missingField(f)) }
    static func invalidField(_ f: String, _ why: String) -> ProtocolError { ProtocolError(.invalidField(f, why)) }
    static func unsupportedVersion(_ v: Int64) -> ProtocolError { ProtocolError(.unsupportedVersion(v)) }
    static let notAnObject = ProtocolError(.notAnObject)

    /// Whether the message had a `type` this side does not know (the others are malformed messages).
    public var isUnknownType: Bool {
        if case .unknownType = base { return true }
        return false
    }

    /// The unknown `type` value, if that was the problem.
    public var unknownTypeName: String? {
        if case .unknownType(let t) = base { return t }
        return nil
    }

    public var description: String {
        switch base {
        case .malformedJSON(let m): return "malformed message: \(m)"
        case .unknownType(let t): return "unknown message type '\(t)'"
        case .missingField(let f): return "missing field '\(f)'"
        case .invalidField(let f, let why): return "invalid field '\(f)': \(why)"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v)"
        case .notAnObject: return "a message must be a JSON object"
        }
    }
}
