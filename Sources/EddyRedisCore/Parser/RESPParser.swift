/// An incremental, bounded RESP2/RESP3 reply parser: bytes in (`append`), whole replies out
/// (`next`), no I/O.
///
/// Guarantees:
/// - Replies come out whole and in the order they arrived, however the bytes were split.
/// - Every declared length is checked against `limits` before anything is allocated for
///   it; nesting is bounded by `RESPLimits.maxDepth`, so parsing never recurses deeper.
/// - Malformed input throws a `RESPParseError`, never traps; after one, `next` keeps
///   throwing it (the connection is out of step and must be closed).
/// - RESP3 attributes (`|`) are read and dropped; the value they annotate is returned.
///
/// A value that has not fully arrived is parsed again from its start when more bytes come:
/// simple, and cheap for the small replies Redis sends most; a very large aggregate arriving
/// in many small reads costs a re-scan per read.
public struct RESPParser: Sendable {
    public let limits: RESPLimits
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: RESPParseError?

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// Bytes received and not yet returned as replies.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole reply, or nil until more bytes arrive.
    public mutating func next() throws(RESPParseError) -> RESPValue? {
        if let failure { throw failure }
        var cursor = start
        do {
            guard let value = try parseValue(at: &cursor, depth: 0) else { return nil }
            start = cursor
            return value
        } catch {
            failure = error
            throw error
        }
    }

    private func parseValue(at cursor: inout Int, depth: Int) throws(RESPParseError) -> RESPValue? {
        guard cursor < buffer.count else { return nil }
        let type = buffer[cursor]
        var position = cursor + 1
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            guard let line = try line(at: &position) else { return nil }
            value = .simpleString(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            guard let line = try line(at: &position) else { return nil }
            value = .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            guard let line = try line(at: &position) else { return nil }
            value = .integer(try integer(line, type: ":"))
        case UInt8(ascii: "("):
            guard let line = try line(at: &position) else { return nil }
            guard !line.isEmpty, line.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") || (48...57).contains($0) }) else {
                throw .malformed(type: "(", reason: "not a decimal number")
            }
            value = .bigNumber(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ","):
            guard let line = try line(at: &position) else { return nil }
            value = .double(try double(line))
        case UInt8(ascii: "#"):
            guard let line = try line(at: &position) else { return nil }
            guard line.count == 1, line[line.startIndex] == UInt8(ascii: "t") || line[line.startIndex] == UInt8(ascii: "f") else {
                throw .malformed(type: "#", reason: "boolean is neither t nor f")
            }
            value = .boolean(line[line.startIndex] == UInt8(ascii: "t"))
        case UInt8(ascii: "_"):
            guard let line = try line(at: &position) else { return nil }
            guard line.isEmpty else { throw .malformed(type: "_", reason: "null with content") }
            value = .null
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let bulk = try bulk(at: &position, type: type) else { return nil }
            value = bulk
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let aggregate = try aggregate(at: &position, type: type, depth: depth + 1) else { return nil }
            if type == UInt8(ascii: "|") {
                // An attribute annotates the value that follows it: drop it, return that value.
                guard let annotated = try parseValue(at: &position, depth: depth) else { return nil }
                cursor = position
                return annotated
            }
            value = aggregate
        default:
            throw .unknownType(byte: type)
        }
        cursor = position
        return value
    }

    /// The line from `position` to its CRLF (advancing past it), or nil if its CRLF has not arrived.
    private func line(at position: inout Int) throws(RESPParseError) -> ArraySlice<UInt8>? {
        var index = position
        let end = min(buffer.count, position + limits.maxLineLength + 2)
        while index + 1 < end {
            if buffer[index] == 13 && buffer[index + 1] == 10 {
                let line = buffer[position..<index]
                position = index + 2
                return line
            }
            index += 1
        }
        if buffer.count - position >= limits.maxLineLength + 2 { throw .lineTooLong(limit: limits.maxLineLength) }
        return nil
    }

    private func integer(_ line: ArraySlice<UInt8>, type: Character) throws(RESPParseError) -> Int64 {
        guard let value = Int64(String(decoding: line, as: UTF8.self)) else {
            throw .malformed(type: type, reason: "not a 64-bit integer")
        }
        return value
    }

    private func double(_ line: ArraySlice<UInt8>) throws(RESPParseError) -> Double {
        switch String(decoding: line, as: UTF8.self) {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        case let text:
            guard let value = Double(text) else { throw .malformed(type: ",", reason: "not a double") }
            return value
        }
    }

    /// A declared length: -1 (null, RESP2) or 0...limit.
    private func length(_ line: ArraySlice<UInt8>, type: UInt8) throws(RESPParseError) -> Int {
        let value = try integer(line, type: Character(Unicode.Scalar(type)))
        guard value >= -1 else { throw .malformed(type: Character(Unicode.Scalar(type)), reason: "negative length \(value)") }
        return Int(value)
    }

    private func bulk(at position: inout Int, type: UInt8) throws(RESPParseError) -> RESPValue? {
        guard let line = try line(at: &position) else { return nil }
        let length = try length(line, type: type)
        if length == -1 { return .null }
        guard length <= limits.maxBulkLength else { throw .bulkTooLong(length: length, limit: limits.maxBulkLength) }
        guard buffer.count - position >= length + 2 else { return nil }
        guard buffer[position + length] == 13, buffer[position + length + 1] == 10 else { throw .missingTerminator }
        var bytes = Array(buffer[position..<(position + length)])
        position += length + 2
        switch type {
        case UInt8(ascii: "!"): return .error(String(decoding: bytes, as: UTF8.self))
        case UInt8(ascii: "="):
            // "txt:" or "mkd:" and then the text.
            guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else { throw .malformed(type: "=", reason: "no format prefix") }
            bytes.removeFirst(4)
            return .bulkString(bytes)
        default: return .bulkString(bytes)
        }
    }

    private func aggregate(at position: inout Int, type: UInt8, depth: Int) throws(RESPParseError) -> RESPValue? {
        guard let line = try line(at: &position) else { return nil }
        let count = try length(line, type: type)
        if count == -1 { return .null }
        guard count <= limits.maxAggregateLength else { throw .aggregateTooLong(count: count, limit: limits.maxAggregateLength) }
        guard depth <= limits.maxDepth else { throw .tooDeep(limit: limits.maxDepth) }
        let isMap = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
        // Each element takes at least 3 bytes: reserve only what has arrived can hold.
        let elementCount = isMap ? count * 2 : count
        var elements: [RESPValue] = []
        elements.reserveCapacity(min(elementCount, (buffer.count - position) / 3))
        for _ in 0..<elementCount {
            guard let element = try parseValue(at: &position, depth: depth) else { return nil }
            elements.append(element)
        }
        switch type {
        case UInt8(ascii: "~"): return .set(elements)
        case UInt8(ascii: ">"): return .push(elements)
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            return .map(stride(from: 0, to: elements.count, by: 2).map { RESPPair(elements[$0], elements[$0 + 1]) })
        default: return .array(elements)
        }
    }
}
