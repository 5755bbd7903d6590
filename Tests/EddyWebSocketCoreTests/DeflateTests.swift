import EddyTestSupport
import Testing
@testable import EddyWebSocketCore

/// RFC 7692 §7.1: negotiation truth tables.
@Suite("RFC 7692 negotiation")
struct DeflateNegotiationTests {
    static let defaults = PerMessageDeflateConfiguration()
    static let wide = PerMessageDeflateConfiguration(maxWindowBits: 15, requestedPeerWindowBits: 15)

    /// (offer header, configuration, expected response element or nil for "declined").
    @Test(arguments: [
        // Plain offers.
        ("permessage-deflate", wide, "permessage-deflate"),
        ("permessage-deflate", defaults, "permessage-deflate; server_max_window_bits=12"),
        ("PerMessage-Deflate", wide, "permessage-deflate"),
        // Context takeover.
        ("permessage-deflate; server_no_context_takeover", wide, "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover", wide, "permessage-deflate; client_no_context_takeover"),
        ("permessage-deflate", PerMessageDeflateConfiguration(maxWindowBits: 15, requestedPeerWindowBits: 15, noContextTakeover: true),
         "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate", PerMessageDeflateConfiguration(maxWindowBits: 15, requestedPeerWindowBits: 15, requestPeerNoContextTakeover: true),
         "permessage-deflate; client_no_context_takeover"),
        // server_max_window_bits.
        ("permessage-deflate; server_max_window_bits=10", wide, "permessage-deflate; server_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=15", defaults, "permessage-deflate; server_max_window_bits=12"),
        ("permessage-deflate; server_max_window_bits=9", defaults, "permessage-deflate; server_max_window_bits=9"),
        ("permessage-deflate; server_max_window_bits=8", defaults, "permessage-deflate; server_max_window_bits=8"),
        ("permessage-deflate; server_max_window_bits", defaults, nil),
        ("permessage-deflate; server_max_window_bits=16", defaults, nil),
        ("permessage-deflate; server_max_window_bits=7", defaults, nil),
        ("permessage-deflate; server_max_window_bits=010", defaults, nil),
        ("permessage-deflate; server_max_window_bits=\"10\"", wide, "permessage-deflate; server_max_window_bits=10"),
        // client_max_window_bits.
        ("permessage-deflate; client_max_window_bits", wide, "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", defaults, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        ("permessage-deflate; client_max_window_bits=10", defaults, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=15", wide, "permessage-deflate; client_max_window_bits=15"),
        ("permessage-deflate; client_max_window_bits=8", wide, "permessage-deflate; client_max_window_bits=8"),
        ("permessage-deflate; client_max_window_bits=0", wide, nil),
        // Invalid offers are declined.
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", wide, nil),
        ("permessage-deflate; server_no_context_takeover=1", wide, nil),
        ("permessage-deflate; client_no_context_takeover=x", wide, nil),
        ("permessage-deflate; unknown_parameter", wide, nil),
        ("x-webkit-deflate-frame", wide, nil),
        // Several offers: the first acceptable one wins.
        ("permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover", wide,
         "permessage-deflate; client_no_context_takeover"),
        // Autobahn 13.7: (no context takeover, 8), (no context takeover), plain.
        ("permessage-deflate; client_no_context_takeover; server_max_window_bits=8, permessage-deflate; client_no_context_takeover, permessage-deflate",
         wide, "permessage-deflate; client_no_context_takeover; server_max_window_bits=8"),
        ("foo, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=11", wide,
         "permessage-deflate; server_max_window_bits=11"),
    ] as [(String, PerMessageDeflateConfiguration, String?)])
    func serverTruthTable(_ offer: String, _ configuration: PerMessageDeflateConfiguration, _ expected: String?) throws {
        let offers = try #require(WebSocketExtensionOffer.parse([offer]))
        let accepted = PerMessageDeflateNegotiation.serverAccept(offers: offers, configuration: configuration)
        #expect(accepted?.headerValue == expected, "\(offer)")
    }

    @Test func disabledDeclinesEverything() throws {
        let offers = try #require(WebSocketExtensionOffer.parse(["permessage-deflate"]))
        #expect(PerMessageDeflateNegotiation.serverAccept(offers: offers, configuration: .disabled) == nil)
        #expect(PerMessageDeflateNegotiation.clientOffers(configuration: .disabled).isEmpty)
    }

    @Test(arguments: ["permessage-deflate; =", "permessage-deflate;", "a b", "permessage-deflate; x=\"unterminated", ", ;"])
    func malformedHeaders(_ text: String) {
        #expect(WebSocketExtensionOffer.parse([text]) == nil)
    }

    @Test func headerParsing() throws {
        let offers = try #require(WebSocketExtensionOffer.parse(["a; b=1; c=\"x\" , d", "e"]))
        #expect(offers == [
            WebSocketExtensionOffer(name: "a", parameters: [.init(name: "b", value: "1"), .init(name: "c", value: "x")]),
            WebSocketExtensionOffer(name: "d"),
            WebSocketExtensionOffer(name: "e"),
        ])
    }
}

/// RFC 7692 §7.2: compression and decompression.
@Suite("RFC 7692 compression")
struct DeflateCodecTests {
    static func codec(_ role: WebSocketRole, _ parameters: PerMessageDeflateParameters,
                      configuration: PerMessageDeflateConfiguration = .init(compressionThreshold: 0)) -> PerMessageDeflateCodec {
        PerMessageDeflateCodec(settings: .init(parameters: parameters, role: role, configuration: configuration))
    }

    static func inflateMessage(_ codec: inout PerMessageDeflateCodec, _ payload: [UInt8], limit: Int = 1 << 20)
        -> (PerMessageDeflateCodec.DecompressionOutcome, [UInt8]) {
        var out: [UInt8] = []
        let first = payload.withUnsafeBytes { codec.decompress($0, into: &out, limit: limit) }
        if first != .ok { return (first, out) }
        return (codec.finishMessage(into: &out, limit: limit), out)
    }

    /// Two server codecs without context takeover share one compressor: messages from
    /// both, interleaved, each decode on their own (a client that was told
    /// `server_no_context_takeover` resets its decompressor after every message), and
    /// neither codec holds a compressor of its own.
    @Test func codecsWithoutContextTakeoverShareOneCompressor() throws {
        let parameters = PerMessageDeflateParameters(serverNoContextTakeover: true, serverMaxWindowBits: 12)
        var first = Self.codec(.server, parameters)
        var second = Self.codec(.server, parameters)
        let stream = try #require(ZlibDeflateStream(level: 6, windowBits: 12, memLevel: 5))
        first.shareCompressor(stream)
        second.shareCompressor(stream)
        var firstClient = Self.codec(.client, parameters)
        var secondClient = Self.codec(.client, parameters)
        for index in 0..<20 {
            let message = Array("{\"seq\":\(index),\"node\":\"fetch-\(index % 3)\",\"state\":\"running\"}".utf8)
            let (codec, client) = index.isMultiple(of: 2) ? (0, 0) : (1, 1)
            let compressed = try #require(codec == 0 ? first.compress(message) : second.compress(message))
            let (outcome, inflated) = client == 0 ? Self.inflateMessage(&firstClient, compressed) : Self.inflateMessage(&secondClient, compressed)
            #expect(outcome == .ok)
            #expect(inflated == message)
        }
        #expect(first.allocatedBytes == 0 && second.allocatedBytes == 0)
        // With context takeover, sharing is refused: the codec keeps its own stream.
        var withContext = Self.codec(.server, PerMessageDeflateParameters(serverMaxWindowBits: 12))
        withContext.shareCompressor(stream)
        _ = withContext.compress(Array(repeating: 0x61, count: 200))
        #expect(withContext.allocatedBytes > 0)
    }

    /// §7.2.3.1 and §7.2.3.2: "Hello" compressed, then again with the shared window.
    @Test func rfcHelloExamples() throws {
        let configuration = PerMessageDeflateConfiguration(maxWindowBits: 15, compressionThreshold: 0, memLevel: 8)
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(),
                                       deflate: PerMessageDeflateParameters(), deflateConfiguration: configuration)
        try server.sendText("Hello")
        #expect(written(server.takeActions()) == [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        try server.sendText("Hello")
        #expect(written(server.takeActions()) == [0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00])
    }

    @Test func rfcHelloExamplesWithoutContextTakeover() throws {
        let configuration = PerMessageDeflateConfiguration(maxWindowBits: 15, compressionThreshold: 0, memLevel: 8)
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(),
                                       deflate: PerMessageDeflateParameters(serverNoContextTakeover: true), deflateConfiguration: configuration)
        try server.sendText("Hello")
        try server.sendText("Hello")
        let hello: [UInt8] = [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
        #expect(written(server.takeActions()) == hello + hello)
    }

    /// Decoding the §7.2.3 examples as a client: compressed, shared window, fragmented
    /// compressed, a stored (uncompressed) block, and a BFINAL block.
    @Test func rfcDecodingExamples() {
        var client = WebSocketProtocol(role: .client, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        let stream: [UInt8] = [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]  // "Hello"
            + [0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00]                                   // shared window
            + [0x41, 0x03, 0xF2, 0x48, 0xCD, 0x80, 0x04, 0xC9, 0xC9, 0x07, 0x00]             // fragmented
            + [0xC1, 0x0B, 0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00] // stored block
            + [0xC1, 0x08, 0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]                   // BFINAL
            + [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]                                     // uncompressed
        var events: [WebSocketEvent] = []
        for byte in stream { events += feed(&client, [byte]).events }  // one byte at a time
        #expect(events == Array(repeating: .text("Hello"), count: 6))
        // The same bytes in one read: the bytes after the final block (the RFC's `00`, the
        // start of a new stream) are inflated, as they are when they arrive apart.
        var oneRead = WebSocketProtocol(role: .client, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        #expect(feed(&oneRead, stream).events == Array(repeating: .text("Hello"), count: 6))
    }

    /// Found by fuzzing: bytes after a final block that are not a deflate stream fail the
    /// message (1007) whether they come in the same read as the block or later; they used
    /// to be dropped unseen when they came in the same read.
    @Test(arguments: [false, true])
    func bytesAfterAFinalBlockAreInflatedNotDropped(oneByteAtATime: Bool) {
        var client = WebSocketProtocol(role: .client, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        let message: [UInt8] = [0xC1, 0x0A, 0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0xFF, 0xFF, 0xFF]  // "Hello", BFINAL, garbage
        var events: [WebSocketEvent] = []
        if oneByteAtATime {
            for byte in message { events += feed(&client, [byte]).events }
        } else {
            events = feed(&client, message).events
        }
        guard case .closed(let status)? = events.last else { Issue.record("no close: \(events)"); return }
        #expect(status.code == .invalidFramePayloadData && events.count == 1, "\(events)")
    }

    @Test(arguments: 9...15)
    func roundTripsAtEveryWindowSize(_ bits: Int) {
        var rng = SplitMix64(seed: UInt64(bits))
        for takeover in [true, false] {
            let parameters = PerMessageDeflateParameters(
                serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover,
                serverMaxWindowBits: bits, clientMaxWindowBits: bits)
            var server = Self.codec(.server, parameters, configuration: .init(maxWindowBits: 15, compressionThreshold: 0))
            var client = Self.codec(.client, parameters, configuration: .init(maxWindowBits: 15, compressionThreshold: 0))
            #expect(server.settings.compressWindowBits == bits)
            #expect(client.settings.decompressWindowBits == bits)
            let words = ["node_state", "edge_active", "running", "\"id\":", "cost_update", "{", "}"]
            for messageIndex in 0..<20 {
                var text = ""
                for _ in 0..<(50 + messageIndex * 40) { text += words[Int(rng.next() % UInt64(words.count))] }
                let message = Array(text.utf8) + rng.bytes(messageIndex)  // some incompressible tail
                guard let compressed = server.compress(message) else { Issue.record("compress failed"); return }
                #expect(Array(compressed.suffix(4)) != [0x00, 0x00, 0xFF, 0xFF])
                let (outcome, inflated) = Self.inflateMessage(&client, compressed)
                #expect(outcome == .ok)
                #expect(inflated == message, "bits \(bits) takeover \(takeover) message \(messageIndex)")
            }
        }
    }

    /// An agreed window of 8 is served with zlib's windowBits 9; its output must inflate
    /// with a 256-byte window.
    @Test func agreedWindow8IsDecodableWithA256ByteWindow() throws {
        var server = Self.codec(.server, PerMessageDeflateParameters(serverMaxWindowBits: 8))
        #expect(server.settings.compressWindowBits == 9)
        var rng = SplitMix64(seed: 8)
        let inflater = try #require(ZlibInflateStream(windowBits: 8))
        for _ in 0..<50 {
            // Repeats at distances 200...400 tempt the compressor to reach past 256.
            let block = rng.bytes(Int(rng.next() % 200) + 200)
            let message = block + block + block + rng.bytes(100) + block
            let maybeCompressed = server.compress(message)
            let compressed = try #require(maybeCompressed)
            var out: [UInt8] = []
            let payload = compressed + [0x00, 0x00, 0xFF, 0xFF]
            let outcome = payload.withUnsafeBytes { inflater.inflate($0, into: &out, limit: 1 << 20) }
            #expect(outcome == .ok)
            #expect(out == message)
        }
    }

    @Test func contextTakeoverMakesRepeatsSmaller() {
        let message = Array(String(repeating: "{\"type\":\"node_state\",\"state\":\"running\"}", count: 3).utf8)
        var withContext = Self.codec(.server, PerMessageDeflateParameters())
        var withoutContext = Self.codec(.server, PerMessageDeflateParameters(serverNoContextTakeover: true))
        _ = withContext.compress(message)
        _ = withoutContext.compress(message)
        let second = withContext.compress(message)?.count ?? 0
        let reset = withoutContext.compress(message)?.count ?? 0
        #expect(second < reset)
    }

    @Test func decompressionBombIsCappedAtTheLimit() {
        var server = Self.codec(.server, PerMessageDeflateParameters())
        var client = Self.codec(.client, PerMessageDeflateParameters())
        let bomb = server.compress([UInt8](repeating: 0, count: 8 << 20)) ?? []
        #expect(bomb.count < 16 * 1024)  // 8 MiB of zeros compresses to a few KiB
        let (outcome, out) = Self.inflateMessage(&client, bomb, limit: 1 << 20)
        #expect(outcome == .tooLarge)
        #expect(out.count == 1 << 20)  // never more than the cap
    }

    @Test func exactlyAtTheLimitIsAccepted() {
        var server = Self.codec(.server, PerMessageDeflateParameters())
        var client = Self.codec(.client, PerMessageDeflateParameters())
        let compressed = server.compress([UInt8](repeating: 7, count: 1000)) ?? []
        let atLimit = Self.inflateMessage(&client, compressed, limit: 1000).0
        #expect(atLimit == .ok)
        var server2 = Self.codec(.server, PerMessageDeflateParameters())
        var client2 = Self.codec(.client, PerMessageDeflateParameters())
        let compressed2 = server2.compress([UInt8](repeating: 7, count: 1001)) ?? []
        let overLimit = Self.inflateMessage(&client2, compressed2, limit: 1000).0
        #expect(overLimit == .tooLarge)
    }

    @Test func invalidDataIsReported() {
        var client = Self.codec(.client, PerMessageDeflateParameters())
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        let outcome = Self.inflateMessage(&client, [0x07, 0x00]).0
        #expect(outcome == .invalid)
    }

    /// Measured zlib memory per connection (both directions used), printed for the docs.
    @Test func memoryPerConnection() {
        func measure(_ configuration: PerMessageDeflateConfiguration, _ parameters: PerMessageDeflateParameters) -> Int {
            var server = Self.codec(.server, parameters, configuration: configuration)
            var client = Self.codec(.client, parameters, configuration: configuration)
            let message = Array(String(repeating: "{\"type\":\"node_state\",\"id\":17}", count: 200).utf8)
            for _ in 0..<3 {
                _ = server.compress(message)
                let compressed = client.compress(message) ?? []
                _ = Self.inflateMessage(&server, compressed)
            }
            return server.allocatedBytes
        }
        let eddyDefault = measure(PerMessageDeflateConfiguration(), PerMessageDeflateParameters(serverMaxWindowBits: 12, clientMaxWindowBits: 12))
        let peerWindow15 = measure(PerMessageDeflateConfiguration(), PerMessageDeflateParameters(serverMaxWindowBits: 12))
        let zlibDefault = measure(PerMessageDeflateConfiguration(maxWindowBits: 15, requestedPeerWindowBits: 15, memLevel: 8),
                                  PerMessageDeflateParameters())
        print("zlib bytes per connection: eddy default \(eddyDefault), peer window 15 \(peerWindow15), zlib 15/8 \(zlibDefault)")
        #expect(eddyDefault < 64 * 1024)
        #expect(zlibDefault > 250 * 1024)
        #expect(eddyDefault < peerWindow15 && peerWindow15 < zlibDefault)
    }

    @Test func streamsAreCreatedLazilyAndReleasable() {
        var server = Self.codec(.server, PerMessageDeflateParameters(serverNoContextTakeover: true))
        #expect(server.allocatedBytes == 0)
        _ = server.compress(Array("hello hello hello".utf8))
        #expect(server.allocatedBytes > 30_000)
        #expect(server.allocatedBytes < 45_000)  // window 12, memLevel 5
        server.releaseIdleStreams()
        #expect(server.allocatedBytes == 0)
        var keeper = Self.codec(.server, PerMessageDeflateParameters())
        _ = keeper.compress(Array("hello".utf8))
        keeper.releaseIdleStreams()  // context takeover: must keep its window
        #expect(keeper.allocatedBytes > 0)
    }
}

/// The compression rules as seen on the wire through the protocol object.
@Suite("permessage-deflate through the protocol")
struct DeflateProtocolTests {
    @Test func thresholdAndControlFrames() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: PerMessageDeflateParameters(),
                                       deflateConfiguration: .init(compressionThreshold: 16))
        try server.sendText("short")
        try server.sendPing(Array("ping payload that is long enough".utf8))
        try server.sendText(String(repeating: "compress me ", count: 10))
        let sent = frames(in: written(server.takeActions()), readBy: .client)
        #expect(sent.map(\.rsv1) == [false, false, true])
        #expect(server.compressionMemory > 0)
    }

    @Test func rsv1OnlyOnFirstFragment() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: PerMessageDeflateParameters(),
                                       deflateConfiguration: .init(compressionThreshold: 0))
        try server.sendBinary([UInt8](repeating: 1, count: 20) + (0..<200).map { UInt8($0) }, fragmentSize: 16)
        let sent = frames(in: written(server.takeActions()), readBy: .client)
        #expect(sent.count > 2)
        #expect(sent.first?.rsv1 == true)
        #expect(sent.dropFirst().allSatisfy { !$0.rsv1 && $0.opcode == .continuation })
    }

    @Test func bombThroughTheProtocolIs1009() {
        var sender = DeflateCodecTests.codec(.server, PerMessageDeflateParameters())
        let bomb = sender.compress([UInt8](repeating: 0x61, count: 4 << 20)) ?? []
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(maxMessageSize: 1 << 20),
                                       deflate: PerMessageDeflateParameters())
        let out = feed(&server, clientFrame(.text, bomb, rsv1: true))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1009)
    }

    @Test func invalidCompressedDataIs1007() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        let out = feed(&server, clientFrame(.binary, [0x07, 0x00], rsv1: true))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
    }

    @Test func invalidUTF8InsideCompressedTextIs1007() {
        var sender = DeflateCodecTests.codec(.server, PerMessageDeflateParameters())
        let payload = sender.compress([0x41, 0xED, 0xA0, 0x80]) ?? []
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        let out = feed(&server, clientFrame(.text, payload, rsv1: true))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
    }

    @Test func rsv1WithoutNegotiationIs1002() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.text, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv1: true))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1002)
    }
}

@Suite("permessage-deflate wire limits")
struct DeflateWireLimitTests {
    /// Incompressible data grows a little under deflate; a compressed message whose
    /// decompressed size fits the limit must not be refused for its wire size.
    @Test func incompressibleMessageAtTheLimitIsAccepted() throws {
        var rng = SplitMix64(seed: 42)
        let data = rng.bytes(1000)
        var client = WebSocketProtocol(
            role: .client, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        try client.sendBinary(data)
        let wire = written(client.takeActions())
        let frame = try #require(frames(in: wire, readBy: .server).first)
        #expect(frame.payload.count > 1000) // stored blocks: bigger than the input
        var server = WebSocketProtocol(
            role: .server, configuration: testConfiguration(maxFrameSize: 1000, maxMessageSize: 1000),
            deflate: PerMessageDeflateParameters())
        let out = feed(&server, wire)
        #expect(out.events == [.binary(data)])
    }

    @Test func uncompressedFrameOverTheLimitIsStill1009() {
        var server = WebSocketProtocol(
            role: .server, configuration: testConfiguration(maxFrameSize: 1000, maxMessageSize: 1000),
            deflate: PerMessageDeflateParameters())
        let out = feed(&server, clientFrame(.binary, [UInt8](repeating: 1, count: 1001)))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1009)
    }
}
