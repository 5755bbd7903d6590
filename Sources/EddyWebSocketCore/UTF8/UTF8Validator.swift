/// Incremental, fail-fast UTF-8 validator (RFC 3629 §4; RFC 6455 §8.1 requires text
/// messages to be valid UTF-8).
///
/// Feed bytes in any chunking with `validate(_:)`. It returns false as soon as the
/// bytes seen so far cannot be the prefix of any valid UTF-8 string: overlong forms,
/// UTF-16 surrogates (U+D800–U+DFFF), code points above U+10FFFF, stray continuation
/// bytes and invalid lead bytes (C0, C1, F5–FF) are rejected at the first byte that
/// proves them invalid, which is what Autobahn's 6.x "fail fast" cases check.
/// `isComplete` tells whether the input ends on a character boundary (check it at the
/// end of a message).
///
/// Guarantees: constant memory (three bytes of state); an ASCII fast path checks
/// eight bytes per step while between characters.
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current character.
    private var remaining: UInt8 = 0
    /// Allowed range of the next byte (narrower than 80...BF only right after E0, ED,
    /// F0, F4 — Unicode Table 3-7).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF
    private var failed = false

    public init() {}

    /// True when no character is split across the end of the input so far and no
    /// invalid byte was seen.
    public var isComplete: Bool { remaining == 0 && !failed }

    /// True once any invalid sequence was seen (sticky).
    public var hasFailed: Bool { failed }

    public mutating func reset() { self = UTF8Validator() }

    /// Validates the next bytes. Returns false (and stays failed) on the first invalid
    /// byte.
    @discardableResult
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if failed { return false }
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return true }
        var index = 0
        while index < count {
            if remaining == 0 {
                // ASCII fast path: eight bytes at a time through unaligned loads.
                while index + 8 <= count {
                    let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index += 8
                }
                if index >= count { break }
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                index += 1
                switch byte {
                case 0x00...0x7F:
                    continue
                case 0xC2...0xDF:
                    remaining = 1; lower = 0x80; upper = 0xBF
                case 0xE0:
                    remaining = 2; lower = 0xA0; upper = 0xBF  // no overlongs
                case 0xE1...0xEC, 0xEE, 0xEF:
                    remaining = 2; lower = 0x80; upper = 0xBF
                case 0xED:
                    remaining = 2; lower = 0x80; upper = 0x9F  // no surrogates
                case 0xF0:
                    remaining = 3; lower = 0x90; upper = 0xBF  // no overlongs
                case 0xF1...0xF3:
                    remaining = 3; lower = 0x80; upper = 0xBF
                case 0xF4:
                    remaining = 3; lower = 0x80; upper = 0x8F  // nothing above U+10FFFF
                default:
                    failed = true  // 80–BF stray continuation, C0/C1 overlong, F5–FF
                    return false
                }
            } else {
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                index += 1
                guard byte >= lower && byte <= upper else {
                    failed = true
                    return false
                }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    @discardableResult
    public mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Whether `bytes` is a complete, valid UTF-8 string.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isComplete
    }
}
