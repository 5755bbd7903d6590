import EddyRedisCore
import Testing

/// The reply parser without sockets: every RESP2/RESP3 type, any split of the bytes, and
/// every limit with its precise error.
@Suite("RESP parser")
struct RESPParserTests {
    static func parseAll(_ text: String, limits: RESPLimits = RESPLimits()) throws -> [RESPValue] {
        var parser = RESPParser(limits: limits)
        parser.append(Array(text.utf8))
        var values: [RESPValue] = []
        for _ in 0..<1000 {
            guard let value = try parser.next() else { break }
            values.append(value)
        }
        return values
    }

    @Test func parsesEveryRESP2Type() throws {
        let values = try Self.parseAll("+OK\r\n-ERR bad\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n$1\r\nx\r\n")
        #expect(values == [.simpleString("OK"), .error("ERR bad"), .integer(-42), .bulkString(Array("he\r\no".utf8)),
                           .bulkString([]), .null, .null, .array([.integer(1), .bulkString([120])])])
    }

    @Test func parsesEveryRESP3Type() throws {
        let text = "_\r\n#t\r\n#f\r\n,3.5\r\n,inf\r\n(12345678901234567890\r\n!3\r\nBAD\r\n=7\r\ntxt:abc\r\n"
            + "%1\r\n+k\r\n:1\r\n~2\r\n:1\r\n:2\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n"
            + "|1\r\n+ttl\r\n:3\r\n+annotated\r\n"
        let values = try Self.parseAll(text)
        #expect(values == [.null, .boolean(true), .boolean(false), .double(3.5), .double(.infinity),
                           .bigNumber("12345678901234567890"), .error("BAD"), .bulkString(Array("abc".utf8)),
                           .map([RESPPair(.simpleString("k"), .integer(1))]), .set([.integer(1), .integer(2)]),
                           .push([.bulkString(Array("message".utf8)), .bulkString([99]), .bulkString([112])]),
                           .simpleString("annotated")])
    }

    @Test func givesTheSameRepliesHoweverTheBytesAreSplit() throws {
        let text = "*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n*1\r\n:7\r\n$-1\r\n+PONG\r\n:99\r\n"
        let whole = try Self.parseAll(text)
        #expect(whole.count == 3)
        let bytes = Array(text.utf8)
        for chunkSize in 1...bytes.count {
            var parser = RESPParser()
            var values: [RESPValue] = []
            for start in stride(from: 0, to: bytes.count, by: chunkSize) {
                parser.append(bytes[start..<min(bytes.count, start + chunkSize)])
                while let value = try parser.next() { values.append(value) }
            }
            #expect(values == whole, "chunk size \(chunkSize)")
            #expect(parser.bufferedByteCount == 0)
        }
    }

    @Test func waitsForAnIncompleteReply() throws {
        var parser = RESPParser()
        parser.append(Array("$10\r\nabc".utf8))
        #expect(try parser.next() == nil)
        parser.append(Array("defghij\r\n".utf8))
        #expect(try parser.next() == .bulkString(Array("abcdefghij".utf8)))
        #expect(try parser.next() == nil)
    }

    @Test func refusesABulkStringOverTheLimitFromItsHeader() {
        var parser = RESPParser(limits: RESPLimits(maxBulkLength: 1024))
        parser.append(Array("$1025\r\n".utf8))
        #expect(throws: RESPParseError.bulkTooLong(length: 1025, limit: 1024)) { try parser.next() }
        // Sticky: the stream is out of step.
        parser.append(Array("+OK\r\n".utf8))
        #expect(throws: RESPParseError.bulkTooLong(length: 1025, limit: 1024)) { try parser.next() }
    }

    @Test func refusesAnAggregateOverTheLimit() {
        var parser = RESPParser(limits: RESPLimits(maxAggregateLength: 3))
        parser.append(Array("*4\r\n".utf8))
        #expect(throws: RESPParseError.aggregateTooLong(count: 4, limit: 3)) { try parser.next() }
        var maps = RESPParser(limits: RESPLimits(maxAggregateLength: 3))
        maps.append(Array("%1000000000\r\n".utf8))
        #expect(throws: RESPParseError.aggregateTooLong(count: 1_000_000_000, limit: 3)) { try maps.next() }
    }

    @Test func refusesNestingDeeperThanTheLimit() throws {
        let limits = RESPLimits(maxDepth: 4)
        #expect(try Self.parseAll(String(repeating: "*1\r\n", count: 4) + ":1\r\n", limits: limits).count == 1)
        var parser = RESPParser(limits: limits)
        parser.append(Array(String(repeating: "*1\r\n", count: 5).utf8))
        #expect(throws: RESPParseError.tooDeep(limit: 4)) { try parser.next() }
        // A hostile server's endless nesting never recurses past the limit.
        var hostile = RESPParser()
        hostile.append(Array(String(repeating: "*1\r\n", count: 100_000).utf8))
        #expect(throws: RESPParseError.tooDeep(limit: 32)) { try hostile.next() }
    }

    @Test func refusesALineWithoutItsEndPastTheLimit() throws {
        var parser = RESPParser(limits: RESPLimits(maxLineLength: 8))
        parser.append(Array("+12345678".utf8))
        #expect(try parser.next() == nil) // could still end
        parser.append(Array("9ab".utf8))
        #expect(throws: RESPParseError.lineTooLong(limit: 8)) { try parser.next() }
    }

    @Test func refusesMalformedInputWithoutTrapping() {
        let cases: [(String, RESPParseError)] = [
            ("?\r\n", .unknownType(byte: UInt8(ascii: "?"))),
            (":12a\r\n", .malformed(type: ":", reason: "not a 64-bit integer")),
            (":99999999999999999999\r\n", .malformed(type: ":", reason: "not a 64-bit integer")),
            ("$-2\r\n", .malformed(type: "$", reason: "negative length -2")),
            ("$3\r\nabcXY", .missingTerminator),
            ("#x\r\n", .malformed(type: "#", reason: "boolean is neither t nor f")),
            (",abc\r\n", .malformed(type: ",", reason: "not a double")),
            ("*\r\n", .malformed(type: "*", reason: "not a 64-bit integer")),
        ]
        for (text, expected) in cases {
            var parser = RESPParser()
            parser.append(Array(text.utf8))
            #expect(throws: expected, "\(text.debugDescription)") { try parser.next() }
        }
    }

    @Test func survivesRandomBytes() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            var parser = RESPParser(limits: RESPLimits(maxBulkLength: 4096, maxAggregateLength: 64, maxDepth: 8))
            var bytes: [UInt8] = []
            let alphabet = Array("*$:+-%~>|_#,(!=0123456789\r\n-ab".utf8)
            for _ in 0..<64 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(alphabet[Int(seed >> 33) % alphabet.count])
            }
            parser.append(bytes)
            for _ in 0..<64 { guard (try? parser.next()) != nil else { break } }
        }
    }
}

@Suite("RESP encoder and pub/sub events")
struct RedisCommandTests {
    @Test func encodesACommandAsAnArrayOfBulkStrings() {
        let command = RedisCommand("SET", "key", "va\r\nlue")
        #expect(command.encoded == Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n".utf8))
        var pipelined: [UInt8] = []
        RedisCommand("PING").encode(into: &pipelined)
        RedisCommand("GET", arguments: [[0, 255]]).encode(into: &pipelined)
        #expect(pipelined == Array("*1\r\n$4\r\nPING\r\n".utf8) + Array("*2\r\n$3\r\nGET\r\n$2\r\n".utf8) + [0, 255, 13, 10])
    }

    @Test func redactsSecretsInDescriptions() {
        #expect(RedisCommand("AUTH", "hunter2").description == "AUTH [redacted]")
        #expect(RedisCommand("hello", "3", "AUTH", "default", "hunter2").description == "HELLO [redacted]")
        #expect(!RedisCommand("CONFIG", "SET", "requirepass", "hunter2").description.contains("hunter2"))
        #expect(RedisCommand("GET", "k").description == "GET k")
    }

    @Test func decodesPubSubEventsFromRESP3PushesAndRESP2Arrays() throws {
        let push = try #require(try RESPParserTests.parseAll(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n").first)
        #expect(RedisPubSubEvent(push) == .message(channel: "ch", pattern: nil, payload: Array("hi".utf8)))
        let array = try #require(try RESPParserTests.parseAll("*4\r\n$8\r\npmessage\r\n$3\r\nc:*\r\n$3\r\nc:1\r\n$0\r\n\r\n").first)
        #expect(RedisPubSubEvent(array) == .message(channel: "c:1", pattern: "c:*", payload: []))
        let confirmation = try #require(try RESPParserTests.parseAll("*3\r\n$10\r\npsubscribe\r\n$3\r\nc:*\r\n:1\r\n").first)
        #expect(RedisPubSubEvent(confirmation) == .subscribed(channel: "c:*", isPattern: true, count: 1))
        #expect(RedisPubSubEvent(.array([.bulkString(Array("message".utf8))])) == nil)
        #expect(RedisPubSubEvent(.simpleString("OK")) == nil)
    }
}
