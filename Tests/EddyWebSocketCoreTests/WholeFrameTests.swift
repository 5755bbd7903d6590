import Testing
@testable import EddyWebSocketCore

/// A data frame that arrives whole in one read is turned into its message in one step
/// (`WebSocketFrameDecoder.takeWholePayload`); these check that this path and the
/// frame-by-frame one (the same bytes in pieces) agree on every outcome.
@Suite("Whole frames in one read")
struct WholeFrameTests {
    /// Events, the close code written (if any) and the final state, after feeding `chunks`.
    static func outcome(_ chunks: [[UInt8]]) -> (events: [WebSocketEvent], close: UInt16?, state: WebSocketConnectionState) {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(maxFrameSize: 1000, maxMessageSize: 1000))
        var events: [WebSocketEvent] = []
        var actions: [WebSocketAction] = []
        for chunk in chunks {
            let out = feed(&server, chunk)
            events += out.events
            actions += out.actions
            if server.hasDeferredFailure {
                server.failDeferred()
                events += server.takeEvents()
                actions += server.takeActions()
            }
        }
        return (events, closeCode(in: written(actions), readBy: .client), server.connectionState)
    }

    /// `outcome` through `receiveData(_:from:)`: each lent message is turned into its event
    /// after the events and actions produced before it, as a driver hands them out.
    static func lendingOutcome(_ chunks: [[UInt8]]) -> (events: [WebSocketEvent], close: UInt16?, state: WebSocketConnectionState, lent: Int) {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(maxFrameSize: 1000, maxMessageSize: 1000))
        var events: [WebSocketEvent] = []
        var actions: [WebSocketAction] = []
        var lentCount = 0
        for chunk in chunks {
            var bytes = chunk
            bytes.withUnsafeMutableBytes { raw in
                var index = 0
                for _ in 0...raw.count { // at most one message per byte, and a last call
                    let lent = server.receiveData(raw, from: &index)
                    events += server.takeEvents()
                    actions += server.takeActions()
                    guard let lent else { break }
                    lentCount += 1
                    let payload = Array(raw[lent.payload])
                    events.append(lent.opcode == .text ? .text(String(decoding: payload, as: UTF8.self)) : .binary(payload))
                }
            }
            if server.hasDeferredFailure {
                server.failDeferred()
                events += server.takeEvents()
                actions += server.takeActions()
            }
        }
        return (events, closeCode(in: written(actions), readBy: .client), server.connectionState, lentCount)
    }

    static let cases: [(String, [UInt8])] = [
        ("text", clientFrame(.text, Array("Hello, world".utf8))),
        ("binary", clientFrame(.binary, [0, 1, 2, 0xFF])),
        ("empty text and binary", clientFrame(.text, []) + clientFrame(.binary, [])),
        ("two-byte character and a 16-bit length", clientFrame(.text, Array(String(repeating: "é", count: 100).utf8))),
        ("invalid UTF-8", clientFrame(.text, [0x61, 0xFF, 0x62])),
        ("text ending mid-character", clientFrame(.text, [0x41, 0xE2, 0x82])),
        ("a message, then a violation", clientFrame(.binary, [7]) + [0x82, 0x01, 0x00]),
        ("too large", clientFrame(.binary, [UInt8](repeating: 1, count: 1001))),
        ("fragments around a whole frame's slot", clientFrame(.text, Array("He".utf8), fin: false)
            + clientFrame(.ping, [5]) + clientFrame(.continuation, Array("llo".utf8))
            + clientFrame(.binary, [9, 9])),
        ("a whole frame after a close", clientFrame(.close, closePayload(1000)) + clientFrame(.text, Array("late".utf8))),
    ]

    @Test(arguments: 0..<cases.count)
    func wholeAndSplitAgree(_ index: Int) {
        let (name, bytes) = Self.cases[index]
        let whole = Self.outcome([bytes])
        let byteWise = Self.outcome(bytes.map { [$0] })
        #expect(whole.events == byteWise.events, "\(name)")
        #expect(whole.close == byteWise.close, "\(name)")
        #expect(whole.state == byteWise.state, "\(name)")
        let lending = Self.lendingOutcome([bytes])
        #expect(lending.events == whole.events && lending.close == whole.close && lending.state == whole.state, "\(name), lent")
        let lendingByteWise = Self.lendingOutcome(bytes.map { [$0] })
        #expect(lendingByteWise.events == whole.events && lendingByteWise.close == whole.close, "\(name), lent byte by byte")
        // Split across reads, a message is not lent (an empty one is: its header's last byte
        // completes it).
        #expect(lendingByteWise.lent == (name == "empty text and binary" ? 2 : 0), "\(name)")
        for split in 1..<bytes.count where bytes.count < 300 {
            let two = Self.outcome([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(two.events == whole.events && two.close == whole.close && two.state == whole.state, "\(name), split at \(split)")
        }
    }

    @Test func expectedOutcomes() {
        #expect(Self.outcome([Self.cases[0].1]).events == [.text("Hello, world")])
        #expect(Self.outcome([Self.cases[2].1]).events == [.text(""), .binary([])])
        #expect(Self.outcome([Self.cases[4].1]).close == 1007)
        #expect(Self.outcome([Self.cases[5].1]).close == 1007)
        let violation = Self.outcome([Self.cases[6].1])
        #expect(violation.events.first == .binary([7]))
        #expect(violation.close == 1002)
        #expect(Self.outcome([Self.cases[7].1]).close == 1009)
    }

    /// Whole messages are lent, not made events: the text of case 0, both messages of case 2,
    /// the binary message after the fragmented text of case 8 (which is an event).
    @Test func wholeMessagesAreLent() {
        #expect(Self.lendingOutcome([Self.cases[0].1]).lent == 1)
        #expect(Self.lendingOutcome([Self.cases[2].1]).lent == 2)
        #expect(Self.lendingOutcome([Self.cases[4].1]).lent == 0, "invalid UTF-8 is not lent")
        let fragments = Self.lendingOutcome([Self.cases[8].1])
        #expect(fragments.lent == 1)
        #expect(fragments.events == [.ping([5]), .text("Hello"), .binary([9, 9])])
    }

    @Test func decoderTakesAWholePayloadOnlyWhenAllOfItIsThere() throws {
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 100, maxMessageSize: 100, maxFragments: 4))
        var bytes = clientFrame(.binary, [1, 2, 3, 4, 5])
        // Header and three payload bytes: not whole; the events then go on as usual.
        var index = 0
        var partial = Array(bytes[..<9])
        try partial.withUnsafeMutableBytes { raw in
            guard case .frameStart(let header)? = try decoder.next(raw, index: &index) else { Issue.record("no header"); return }
            #expect(header.payloadLength == 5)
            #expect(decoder.takeWholePayload(raw, index: &index) == nil)
            #expect(index == 6)
            #expect(try decoder.next(raw, index: &index) == .payload(6..<9))
            #expect(Array(raw[6..<9]) == [1, 2, 3])
            // Part of the payload read: the rest cannot be taken as a whole payload.
            #expect(decoder.takeWholePayload(raw, index: &index) == nil)
        }
        // A whole frame: its payload unmasked in place, the index past it, the next header next.
        decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 100, maxMessageSize: 100, maxFragments: 4))
        bytes += clientFrame(.text, Array("ok".utf8))
        index = 0
        try bytes.withUnsafeMutableBytes { raw in
            _ = try decoder.next(raw, index: &index)
            let range = decoder.takeWholePayload(raw, index: &index)
            #expect(range == 6..<11)
            #expect(Array(raw[6..<11]) == [1, 2, 3, 4, 5])
            guard case .frameStart(let next)? = try decoder.next(raw, index: &index) else { Issue.record("no second header"); return }
            #expect(next.opcode == .text)
            #expect(decoder.takeWholePayload(raw, index: &index).map { Array(raw[$0]) } == Array("ok".utf8))
            #expect(try decoder.next(raw, index: &index) == nil)
            #expect(decoder.isBetweenMessages)
        }
    }

    @Test func headersRoundTripAtEveryLengthEncoding() {
        for length in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            for key in [nil, testKey] {
                var out: [UInt8] = [0xAA] // something before: the header is appended, not written over
                let payload = [UInt8](repeating: 0x5A, count: length)
                WebSocketFrameEncoder.append(opcode: .binary, payload: payload, maskingKey: key, to: &out)
                let lengthBytes = length < 126 ? 0 : (length <= 0xFFFF ? 2 : 8)
                #expect(out.count == 1 + 2 + lengthBytes + (key == nil ? 0 : 4) + length)
                let decoded = frames(in: Array(out.dropFirst()), readBy: key == nil ? .client : .server)
                #expect(decoded.count == 1 && decoded.first?.payload == payload, "length \(length), masked \(key != nil)")
            }
        }
    }
}
