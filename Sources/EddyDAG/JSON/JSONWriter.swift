/// A deterministic, compact JSON encoder writing UTF-8 bytes.
///
/// Guarantees: no whitespace; object members in the order given; strings escaped exactly as
/// ECMAScript's `JSON.stringify` does (`"` `\` and control characters only, with the short forms
/// `\b \f \n \r \t`); numbers spelled as ECMAScript's `Number.prototype.toString` spells them
/// (shortest round-trip digits, `10` not `10.0`, `1e-7`, `1.5e+21`), so a browser re-encoding a
/// parsed message produces the same bytes. Non-finite doubles are written as `null`.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// The bytes written so far, as a `String`.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: writeRaw("null")
        case .bool(let flag): writeRaw(flag ? "true" : "false")
        case .int(let integer): writeInt(integer)
        case .double(let number): writeDouble(number)
        case .string(let text): writeString(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(member.key)
                bytes.append(UInt8(ascii: ":"))
                write(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    public mutating func writeRaw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `json`, bytes that already are one JSON value in this encoding (an event as the
    /// log stored it), as they are: not parsed, not checked.
    public mutating func writeEncoded(_ json: [UInt8]) {
        bytes.append(contentsOf: json)
    }

    public mutating func writeInt<I: BinaryInteger>(_ value: I) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var magnitude = value.magnitude
        withUnsafeMutableBytes(of: &digits) { buf in
            while magnitude > 0 && count < 20 {
                buf[count] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
                count += 1
            }
        }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &digits) { buf in
            var position = count - 1
            while position >= 0 {
                bytes.append(buf[position])
                position -= 1
            }
        }
    }

    public mutating func writeDouble(_ value: Double) {
        guard value.isFinite else {
            writeRaw("null")
            return
        }
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        if value.rounded() == value && abs(value) < 1e15 {
            writeInt(Int64(value))
            return
        }
        bytes.append(contentsOf: Self.ecmaScriptSpelling(of: value).utf8)
    }

    /// Re-spells Swift's shortest round-trip description with ECMAScript's layout rules
    /// (ECMA-262 Number::toString): the digits are the same, only their placement differs.
    static func ecmaScriptSpelling(of value: Double) -> String {
        var text = Substring(value.magnitude.description)
        var exponent = 0
        if let exponentMarker = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: exponentMarker)...]) ?? 0
            text = text[..<exponentMarker]
        }
        // text is now "ddd.ddd" (or "ddd"); collect the significant digits and the decimal position.
        var digits = ""
        var pointPosition = text.count
        for (offset, character) in text.enumerated() {
            if character == "." { pointPosition = offset } else { digits.append(character) }
        }
        // Strip leading zeros (adjusting the point) and trailing zeros.
        var leading = 0
        for character in digits {
            if character == "0" { leading += 1 } else { break }
        }
        digits.removeFirst(leading)
        pointPosition -= leading
        while digits.last == "0" { digits.removeLast() }
        if digits.isEmpty { return "0" }
        let digitCount = digits.count
        let pointExponent = pointPosition + exponent  // value = 0.d1d2…d(digitCount) × 10^pointExponent
        var out = value < 0 ? "-" : ""
        if digitCount <= pointExponent && pointExponent <= 21 {
            out += digits + String(repeating: "0", count: pointExponent - digitCount)
        } else if 0 < pointExponent && pointExponent <= 21 {
            let split = digits.index(digits.startIndex, offsetBy: pointExponent)
            out += digits[..<split] + "." + digits[split...]
        } else if -6 < pointExponent && pointExponent <= 0 {
            out += "0." + String(repeating: "0", count: -pointExponent) + digits
        } else {
            let shownExponent = pointExponent - 1
            let sign = shownExponent < 0 ? "-" : "+"
            out += String(digits.prefix(1))
            if digitCount > 1 { out += "." + digits.dropFirst() }
            out += "e" + sign + String(abs(shownExponent))
        }
        return out
    }

    public mutating func writeString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case 0x08: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "f"))
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    // MARK: Object helpers used by the protocol encoders (keys are trusted ASCII literals).

    /// Writes `"key":` preceded by a comma unless `first` is set; `first` is cleared.
    public mutating func key(_ key: StaticString, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }
}
