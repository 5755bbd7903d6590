/// A JSON value with **ordered** object members and a distinction between integers and
/// floating-point numbers.
///
/// Guarantees: encoding a `JSONValue` with ``JSONWriter`` is deterministic (member order is
/// preserved exactly, numbers use one canonical spelling), so parsing canonical bytes and
/// writing them again reproduces the same bytes. Equality is order-sensitive for objects.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([Member])

    /// One member of a JSON object; objects keep their members in order.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// Looks up the first member named `key` when `self` is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The string payload, when `self` is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The numeric payload as a `Double`, when `self` is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let integer): return Double(integer)
        case .double(let number): return number
        default: return nil
        }
    }

    /// The numeric payload as an integer, when `self` is an integral number.
    public var intValue: Int64? {
        switch self {
        case .int(let integer): return integer
        case .double(let number) where number.rounded() == number && abs(number) < 9.0e15: return Int64(number)
        default: return nil
        }
    }

    /// The members, when `self` is an object.
    public var objectMembers: [Member]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements, when `self` is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The canonical compact encoding of this value as a `String`.
    public var jsonString: String {
        var writer = JSONWriter()
        writer.write(self)
        return writer.string
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { Member($0.0, $0.1) })
    }
    public init(nilLiteral: ()) { self = .null }
}
