import EddyTestSupport
import Testing
@testable import EddyWebSocketCore

/// RFC 6455 §5.7 examples, byte for byte.
@Suite("RFC 6455 §5.7 examples")
struct RFCExampleTests {
    let hello: [UInt8] = Array("Hello".utf8)

    @Test func unmaskedTextHello() throws {
        let bytes: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        #expect(WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .text, payload: hello)) == bytes)
        var decoder = WebSocketFrameDecoder(role: .client, limits: .init(maxFrameSize: 1000, maxMessageSize: 1000, maxFragments: 10))
        #expect(try decoder.decodeFrames(bytes) == [WebSocketFrame(opcode: .text, payload: hello)])
    }

    @Test func maskedTextHello() throws {
        let bytes: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .text, payload: hello), maskingKey: testKey) == bytes)
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 1000, maxMessageSize: 1000, maxFragments: 10))
        #expect(try decoder.decodeFrames(bytes) == [WebSocketFrame(opcode: .text, payload: hello)])
    }

    @Test func fragmentedUnmaskedText() throws {
        let bytes: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
        var decoder = WebSocketFrameDecoder(role: .client, limits: .init(maxFrameSize: 1000, maxMessageSize: 1000, maxFragments: 10))
        #expect(try decoder.decodeFrames(bytes) == [
            WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8)),
            WebSocketFrame(fin: true, opcode: .continuation, payload: Array("lo".utf8)),
        ])
        var out: [UInt8] = []
        WebSocketFrameEncoder.append(opcode: .text, fin: false, payload: Array("Hel".utf8), maskingKey: nil, to: &out)
        WebSocketFrameEncoder.append(opcode: .continuation, fin: true, payload: Array("lo".utf8), maskingKey: nil, to: &out)
        #expect(out == bytes)
    }

    @Test func unmaskedPingAndMaskedPong() throws {
        let ping: [UInt8] = [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        let pong: [UInt8] = [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .ping, payload: hello)) == ping)
        #expect(WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .pong, payload: hello), maskingKey: testKey) == pong)
    }

    @Test func binary256Bytes() throws {
        let payload = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
        let encoded = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .binary, payload: payload))
        #expect(Array(encoded.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(encoded.count == 260)
        var decoder = WebSocketFrameDecoder(role: .client, limits: .init(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20, maxFragments: 10))
        #expect(try decoder.decodeFrames(encoded) == [WebSocketFrame(opcode: .binary, payload: payload)])
    }

    @Test func binary64KiB() throws {
        let payload = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let encoded = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .binary, payload: payload))
        #expect(Array(encoded.prefix(10)) == [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        var decoder = WebSocketFrameDecoder(role: .client, limits: .init(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20, maxFragments: 10))
        #expect(try decoder.decodeFrames(encoded) == [WebSocketFrame(opcode: .binary, payload: payload)])
    }
}

/// RFC 6455 §5.2: incremental parsing over arbitrary chunking.
@Suite("§5.2 framing: chunking")
struct ChunkingTests {
    /// A stream of masked client frames covering 7-, 16- and 64-bit lengths, control
    /// frames between fragments and an empty frame.
    static let stream: [UInt8] = {
        var rng = SplitMix64(seed: 42)
        var bytes: [UInt8] = []
        bytes += clientFrame(.text, Array("Hel".utf8), fin: false)
        bytes += clientFrame(.ping, Array("p".utf8))
        bytes += clientFrame(.continuation, Array("lo".utf8))
        bytes += clientFrame(.binary, rng.bytes(300), key: WebSocketMaskingKey(1, 2, 3, 4))
        bytes += clientFrame(.binary, [])
        bytes += clientFrame(.binary, rng.bytes(70_000), key: WebSocketMaskingKey(9, 8, 7, 6))
        bytes += clientFrame(.close, closePayload(1000, "bye"))
        return bytes
    }()

    static func decodeAll(_ chunks: [[UInt8]]) throws -> [WebSocketFrame] {
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20, maxFragments: 10))
        var frames: [WebSocketFrame] = []
        for chunk in chunks { frames += try decoder.decodeFrames(chunk) }
        return frames
    }

    @Test func wholeStream() throws {
        let frames = try Self.decodeAll([Self.stream])
        #expect(frames.map(\.opcode) == [.text, .ping, .continuation, .binary, .binary, .binary, .close])
        #expect(frames[5].payload.count == 70_000)
    }

    @Test func splitAtEveryPointOfTheHeaders() throws {
        let reference = try Self.decodeAll([Self.stream])
        // Every split point in the first 600 bytes (all small frames and the 64-bit header).
        for split in 0...600 {
            let frames = try Self.decodeAll([Array(Self.stream[..<split]), Array(Self.stream[split...])])
            #expect(frames == reference, "split at \(split)")
        }
    }

    @Test func oneByteAtATime() throws {
        let reference = try Self.decodeAll([Self.stream])
        let frames = try Self.decodeAll(Self.stream.map { [$0] })
        #expect(frames == reference)
    }

    @Test func threeWaySplitsOfSmallFrames() throws {
        let small = clientFrame(.text, Array("Hello, world".utf8)) + clientFrame(.ping, [1, 2, 3])
        let reference = try Self.decodeAll([small])
        for a in 0...small.count {
            for b in a...small.count {
                let frames = try Self.decodeAll([Array(small[..<a]), Array(small[a..<b]), Array(small[b...])])
                #expect(frames == reference)
            }
        }
    }
}

/// RFC 6455 §5.3: masking.
@Suite("§5.3 masking")
struct MaskingTests {
    @Test func wordAtATimeMatchesByteWiseReference() {
        var rng = SplitMix64(seed: 7)
        for length in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 1000] {
            for offset in 0..<4 {
                let key = WebSocketMaskingKey(rng.bytes(4))!
                let original = rng.bytes(length)
                var fast = original
                key.apply(to: &fast, range: 0..<length, payloadOffset: offset)
                let keyBytes = key.array
                let reference = original.enumerated().map { $0.element ^ keyBytes[($0.offset + offset) % 4] }
                #expect(fast == reference, "length \(length) offset \(offset)")
                key.apply(to: &fast, range: 0..<length, payloadOffset: offset)
                #expect(fast == original)
            }
        }
    }

    @Test func unalignedSubrange() {
        var rng = SplitMix64(seed: 9)
        let original = rng.bytes(67)
        var buffer = original
        testKey.apply(to: &buffer, range: 3..<67, payloadOffset: 0)
        let keyBytes = testKey.array
        for i in 0..<67 {
            let expected = i < 3 ? original[i] : original[i] ^ keyBytes[(i - 3) % 4]
            #expect(buffer[i] == expected)
        }
    }

    @Test func randomKeysComeFromOpenSSL() {
        let keys = (0..<16).compactMap { _ in WebSocketMaskingKey.random() }
        #expect(keys.count == 16)
        #expect(Set(keys).count > 1)
    }
}

/// RFC 6455 §5.2, §5.4, §5.5: every header rule, with its close code.
@Suite("§5 framing violations")
struct FrameViolationTests {
    static func serverDecodeError(_ bytes: [UInt8], limits: WebSocketFrameDecoder.Limits = .init(maxFrameSize: 1 << 16, maxMessageSize: 1 << 17, maxFragments: 4), compression: Bool = false) -> WebSocketProtocolError? {
        var decoder = WebSocketFrameDecoder(role: .server, limits: limits, allowsCompression: compression)
        do {
            _ = try decoder.decodeFrames(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        // (description, bytes, expected close code)
        ("RSV2 set", [0xA1, 0x80, 0, 0, 0, 0], 1002),
        ("RSV3 set", [0x91, 0x80, 0, 0, 0, 0], 1002),
        ("RSV1 without extension", [0xC1, 0x80, 0, 0, 0, 0], 1002),
        ("reserved opcode 3", [0x83, 0x80, 0, 0, 0, 0], 1002),
        ("reserved opcode 7", [0x87, 0x80, 0, 0, 0, 0], 1002),
        ("reserved opcode B", [0x8B, 0x80, 0, 0, 0, 0], 1002),
        ("reserved opcode F", [0x8F, 0x80, 0, 0, 0, 0], 1002),
        ("fragmented ping", [0x09, 0x80, 0, 0, 0, 0], 1002),
        ("fragmented close", [0x08, 0x80, 0, 0, 0, 0], 1002),
        ("ping of 126 bytes", [0x89, 0xFE, 0x00, 0x7E], 1002),
        ("unmasked client frame", [0x81, 0x00], 1002),
        ("16-bit length below 126", [0x82, 0xFE, 0x00, 0x7D], 1002),
        ("64-bit length below 65536", [0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 1002),
        ("64-bit length top bit", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], 1002),
        ("continuation without start", [0x80, 0x80, 0, 0, 0, 0], 1002),
        ("frame over limit", [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x01], 1009),
        ("huge 64-bit frame", [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 1009),
    ] as [(String, [UInt8], Int)])
    func headerViolation(_ name: String, _ bytes: [UInt8], _ code: Int) {
        let error = Self.serverDecodeError(bytes)
        #expect(error?.closeCode.rawValue == UInt16(code), "\(name)")
        // The one-step path for whole data frames declines it, even with payload enough
        // behind it, and leaves it to `next` (which reports it).
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 1 << 16, maxMessageSize: 1 << 17, maxFragments: 4))
        var padded = bytes + [UInt8](repeating: 0, count: 300)
        padded.withUnsafeMutableBytes { raw in
            var index = 0
            #expect(decoder.nextWholeDataFrame(raw, index: &index) == nil, "\(name)")
            #expect(index == 0)
        }
    }

    /// The one-step path takes only what it may: not over the limits, not inside a
    /// fragmented message, not a frame whose payload has not all arrived; and it agrees with
    /// `next` on what it takes.
    @Test func wholeDataFramesInOneStepOnlyWhenAllowed() throws {
        let limits = WebSocketFrameDecoder.Limits(maxFrameSize: 100, maxMessageSize: 150, maxFragments: 4)
        func oneStep(_ bytes: [UInt8], after earlier: [UInt8] = []) throws -> (WebSocketOpcode, [UInt8])? {
            var decoder = WebSocketFrameDecoder(role: .server, limits: limits)
            _ = try decoder.decodeFrames(earlier)
            var input = bytes
            return input.withUnsafeMutableBytes { raw in
                var index = 0
                guard let (opcode, range) = decoder.nextWholeDataFrame(raw, index: &index) else { return nil }
                #expect(index == raw.count)
                #expect(decoder.isBetweenMessages)
                return (opcode, Array(raw[range]))
            }
        }
        let payload = (0..<100).map { UInt8($0) }
        let taken = try #require(try oneStep(clientFrame(.binary, payload)))
        #expect(taken.0 == .binary && taken.1 == payload)
        #expect(try oneStep(clientFrame(.text, Array("é".utf8)))?.1 == Array("é".utf8))
        #expect(try oneStep(clientFrame(.binary, payload + [0])) == nil, "over the frame limit")
        #expect(try oneStep(Array(clientFrame(.binary, payload).dropLast())) == nil, "a byte short")
        #expect(try oneStep(clientFrame(.binary, [1]), after: clientFrame(.text, [0x61], fin: false)) == nil, "inside a message")
        #expect(try oneStep(clientFrame(.binary, [1], fin: false)) == nil, "not final")
        #expect(try oneStep(clientFrame(.ping, [1])) == nil, "control")
        #expect(try oneStep(serverFrame(.binary, [1])) == nil, "unmasked, to a server")
    }

    @Test func violationIsDetectedBeforeThePayloadArrives() {
        // A 2^32-byte frame header with no payload at all is rejected at once.
        let error = Self.serverDecodeError([0x82, 0xFF, 0, 0, 0, 0x01, 0, 0, 0, 0])
        #expect(error?.closeCode == .messageTooBig)
    }

    @Test func newDataFrameInsideFragmentedMessage() {
        let bytes = clientFrame(.text, [0x41], fin: false) + clientFrame(.text, [0x42])
        #expect(Self.serverDecodeError(bytes)?.closeCode == .protocolError)
    }

    @Test func maskedServerFrameRejectedByClient() {
        var decoder = WebSocketFrameDecoder(role: .client, limits: .init(maxFrameSize: 100, maxMessageSize: 100, maxFragments: 1))
        #expect(throws: WebSocketProtocolError.self) { try decoder.decodeFrames(clientFrame(.text, [0x41])) }
    }

    @Test func messageSizeAcrossFragments() {
        let limits = WebSocketFrameDecoder.Limits(maxFrameSize: 100, maxMessageSize: 150, maxFragments: 10)
        let ok = clientFrame(.binary, [UInt8](repeating: 1, count: 100), fin: false)
            + clientFrame(.continuation, [UInt8](repeating: 1, count: 50))
        #expect(Self.serverDecodeError(ok, limits: limits) == nil)
        let tooBig = clientFrame(.binary, [UInt8](repeating: 1, count: 100), fin: false)
            + clientFrame(.continuation, [UInt8](repeating: 1, count: 51))
        #expect(Self.serverDecodeError(tooBig, limits: limits)?.closeCode == .messageTooBig)
    }

    @Test func fragmentCountLimit() {
        let limits = WebSocketFrameDecoder.Limits(maxFrameSize: 100, maxMessageSize: 150, maxFragments: 3)
        var bytes = clientFrame(.binary, [], fin: false) + clientFrame(.continuation, [], fin: false)
        #expect(Self.serverDecodeError(bytes + clientFrame(.continuation, []), limits: limits) == nil)
        bytes += clientFrame(.continuation, [], fin: false) + clientFrame(.continuation, [])
        #expect(Self.serverDecodeError(bytes, limits: limits)?.closeCode == .messageTooBig)
    }

    @Test func rsv1AllowedOnlyOnFirstFrameWithCompression() {
        #expect(Self.serverDecodeError(clientFrame(.text, [1], rsv1: true), compression: true) == nil)
        let continuation = clientFrame(.text, [1], fin: false, rsv1: true) + clientFrame(.continuation, [1], rsv1: true)
        #expect(Self.serverDecodeError(continuation, compression: true)?.closeCode == .protocolError)
        #expect(Self.serverDecodeError(clientFrame(.ping, [1], rsv1: true), compression: true)?.closeCode == .protocolError)
    }

    @Test func controlFrameOf125BytesIsFine() {
        #expect(Self.serverDecodeError(clientFrame(.ping, [UInt8](repeating: 0, count: 125))) == nil)
    }

    @Test func decoderStaysFailed() {
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 100, maxMessageSize: 100, maxFragments: 1))
        #expect(throws: WebSocketProtocolError.self) { try decoder.decodeFrames([0x83, 0x80, 0, 0, 0, 0]) }
        #expect(throws: WebSocketProtocolError.self) { try decoder.decodeFrames(clientFrame(.text, [0x41])) }
    }
    /// `awaitsHeader`, which lets the protocol stop at the end of a read without asking the
    /// decoder: true only when no event can come without more input. A frame with no payload
    /// still owes its `.frameEnd` after the input is used up.
    @Test func onlyADecoderBetweenFramesHasNothingToSayWithoutInput() {
        var decoder = WebSocketFrameDecoder(role: .server, limits: .init(maxFrameSize: 1000, maxMessageSize: 1000, maxFragments: 10))
        #expect(decoder.awaitsHeader)
        // An empty frame, then the first byte of the next one.
        var bytes = clientFrame(.binary, []) + [clientFrame(.binary, [1, 2, 3])[0]]
        var events: [WebSocketFrameDecoder.Event?] = []
        var waits: [Bool] = []
        var index = 0
        bytes.withUnsafeMutableBytes { raw in
            do {
                events.append(try decoder.next(raw, index: &index)) // the empty frame's start
                waits.append(decoder.awaitsHeader)
                var atEnd = raw.count
                events.append(try decoder.next(raw, index: &atEnd)) // its end, with no input left
                waits.append(decoder.awaitsHeader)
                events.append(try decoder.next(raw, index: &index)) // the next header's first byte
                waits.append(decoder.awaitsHeader)
            } catch {
                Issue.record(error)
            }
        }
        guard events.count == 3, case .frameStart(let header)? = events[0] else {
            Issue.record("events: \(events)")
            return
        }
        #expect(header.payloadLength == 0)
        #expect(events[1] == .frameEnd)
        #expect(events[2] == nil)
        #expect(index == bytes.count)
        #expect(waits == [false, true, true])
    }
}
