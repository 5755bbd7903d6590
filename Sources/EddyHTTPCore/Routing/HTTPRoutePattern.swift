/// A route path pattern such as `/api/dags/{id}/stream`.
///
/// Guarantees: matching is segment-by-segment and exact (no trailing-slash folding);
/// literal segments compare against the raw path segment; a `{name}` segment matches
/// any single non-empty segment and captures it percent-decoded. A segment whose
/// percent-encoding is invalid makes the match fail.
public struct HTTPRoutePattern: Sendable, Equatable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    public let description: String

    /// Parses a pattern. Returns nil when it does not start with `/` or a parameter
    /// segment is not exactly `{name}` with a non-empty name.
    public init?(_ pattern: String) {
        guard pattern.hasPrefix("/") else { return nil }
        var segments: [Segment] = []
        for part in pattern.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if part.hasPrefix("{") || part.hasSuffix("}") || part.contains("{") || part.contains("}") {
                guard part.count > 2, part.first == "{", part.last == "}" else { return nil }
                let name = part.dropFirst().dropLast()
                guard !name.contains("{"), !name.contains("}") else { return nil }
                segments.append(.parameter(String(name)))
            } else {
                segments.append(.literal(String(part)))
            }
        }
        self.segments = segments
        self.description = pattern
    }

    /// Matches a raw request path; returns the captured parameters or nil.
    public func match(path: String) -> HTTPRouteParameters? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var parameters = HTTPRouteParameters()
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal):
                guard part == literal else { return nil }
            case .parameter(let name):
                guard !part.isEmpty, let decoded = percentDecoded(part) else { return nil }
                parameters.values.append((name: name, value: decoded))
            }
        }
        return parameters
    }
}

/// Values captured by a route pattern, in pattern order.
///
/// Guarantees: values are percent-decoded, valid UTF-8, and non-empty.
public struct HTTPRouteParameters: Sendable, Equatable {
    var values: [(name: String, value: String)] = []

    public init() {}

    public subscript(name: String) -> String? {
        values.first { $0.name == name }?.value
    }

    public var count: Int { values.count }

    public static func == (lhs: HTTPRouteParameters, rhs: HTTPRouteParameters) -> Bool {
        lhs.values.count == rhs.values.count
            && zip(lhs.values, rhs.values).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}
