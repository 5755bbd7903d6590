/// An ordered list of HTTP header fields with case-insensitive name lookup.
///
/// Guarantees: insertion order and duplicate fields are preserved exactly as received
/// (RFC 9110 §5.3 allows a field to appear several times); lookups compare names
/// ASCII-case-insensitively (RFC 9110 §5.1). Values are stored as received, with
/// surrounding optional whitespace already removed by the parser.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (name: String, value: String)

    private var storage: [(name: String, value: String)]

    public init() { storage = [] }

    public init(_ fields: [(String, String)]) {
        storage = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        storage = elements.map { (name: $0.0, value: $0.1) }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.storage.count == rhs.storage.count
            && zip(lhs.storage, rhs.storage).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        storage.makeIterator()
    }

    /// Appends a field, keeping any existing field with the same name.
    public mutating func add(name: String, value: String) {
        storage.append((name: name, value: value))
    }

    /// Replaces every field with this name by a single field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        storage.append((name: name, value: value))
    }

    /// Removes every field with this name.
    public mutating func remove(name: String) {
        storage.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// All values of the fields with this name, in order.
    public subscript(name: String) -> [String] {
        storage.compactMap { asciiCaseInsensitiveEquals($0.name, name) ? $0.value : nil }
    }

    /// The first value of the field with this name.
    public func first(name: String) -> String? {
        storage.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    public func contains(name: String) -> Bool {
        storage.contains { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// The comma-separated list elements of every field with this name (RFC 9110 §5.6.1),
    /// trimmed, empty elements dropped.
    public func listValues(name: String) -> [String] {
        var result: [String] = []
        for value in self[name] {
            for element in value.split(separator: ",", omittingEmptySubsequences: true) {
                let trimmed = trimOWS(Substring(element))
                if !trimmed.isEmpty { result.append(String(trimmed)) }
            }
        }
        return result
    }

    /// Whether a comma-separated list field contains `token`, ASCII-case-insensitively
    /// (for example `Connection: keep-alive, Upgrade`).
    public func containsToken(_ token: String, inField name: String) -> Bool {
        listValues(name: name).contains { asciiCaseInsensitiveEquals($0, token) }
    }
}

/// Compares two strings ASCII-case-insensitively without allocating.
@inlinable
public func asciiCaseInsensitiveEquals(_ lhs: String, _ rhs: String) -> Bool {
    var l = lhs.utf8.makeIterator()
    var r = rhs.utf8.makeIterator()
    while true {
        switch (l.next(), r.next()) {
        case (nil, nil): return true
        case let (a?, b?):
            if a == b { continue }
            let la = (a >= 0x41 && a <= 0x5A) ? a | 0x20 : a
            let lb = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
            if la != lb { return false }
        default: return false
        }
    }
}

/// Removes leading and trailing spaces and horizontal tabs (RFC 9110 §5.6.3 OWS).
func trimOWS(_ text: Substring) -> Substring {
    var start = text.startIndex
    var end = text.endIndex
    while start < end, text[start] == " " || text[start] == "\t" { start = text.index(after: start) }
    while end > start {
        let before = text.index(before: end)
        if text[before] == " " || text[before] == "\t" { end = before } else { break }
    }
    return text[start..<end]
}
