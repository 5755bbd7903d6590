import Testing
@testable import EddyWebSocketCore

/// RFC 6455 §5.4–§5.6 and §7 through the protocol object (server role unless noted).
@Suite("Protocol: messages, control frames, failures")
struct ProtocolMessageTests {
    @Test func textAndBinaryMessages() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.text, Array("Hello".utf8)) + clientFrame(.binary, [1, 2, 3]))
        #expect(out.events == [.text("Hello"), .binary([1, 2, 3])])
        #expect(out.actions.isEmpty)
    }

    @Test func fragmentedMessageWithInterleavedPingIsAnsweredImmediately() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let first = feed(&server, clientFrame(.text, Array("Hel".utf8), fin: false) + clientFrame(.ping, Array("hb".utf8)))
        #expect(first.events == [.ping(Array("hb".utf8))])
        #expect(written(first.actions) == serverFrame(.pong, Array("hb".utf8)))
        let second = feed(&server, clientFrame(.continuation, Array("lo".utf8)))
        #expect(second.events == [.text("Hello")])
    }

    @Test func pongIsReported() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        #expect(feed(&server, clientFrame(.pong, [9])).events == [.pong([9])])
    }

    @Test func invalidUTF8FailsMidFrameBeforeTheFrameEnds() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        // A 200-byte text frame whose 11th byte is invalid; deliver only 30 bytes.
        var payload = [UInt8](repeating: 0x61, count: 200)
        payload[10] = 0xFF
        let frame = clientFrame(.text, payload)
        let out = feed(&server, Array(frame[..<30]))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
        #expect(server.connectionState == .closed)
        #expect(out.actions.last == .closeTransport)
    }

    @Test func invalidUTF8InFirstFragmentFailsBeforeTheMessageEnds() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.text, [0xCE, 0xBA, 0xED, 0xA0], fin: false))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
    }

    @Test func messageEndingMidCharacterIs1007() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.text, [0x41, 0xE2, 0x82]))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
        #expect(out.events.count == 1)
    }

    @Test func characterSplitAcrossFragmentsIsFine() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let out = feed(&server, clientFrame(.text, [euro[0]], fin: false) + clientFrame(.continuation, [euro[1]], fin: false)
            + clientFrame(.continuation, [euro[2]]))
        #expect(out.events == [.text("€")])
    }

    @Test func binaryIsNotValidated() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        #expect(feed(&server, clientFrame(.binary, [0xFF, 0xFE])).events == [.binary([0xFF, 0xFE])])
    }

    @Test func oversizedMessageIs1009BeforeItsPayload() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(maxFrameSize: 1000, maxMessageSize: 1000))
        let frame = clientFrame(.binary, [UInt8](repeating: 0, count: 1001))
        let out = feed(&server, Array(frame.prefix(8)))  // header only
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1009)
    }

    @Test func tooManyFragmentsIs1009() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(maxFragments: 2))
        let out = feed(&server, clientFrame(.binary, [1], fin: false) + clientFrame(.continuation, [2], fin: false)
            + clientFrame(.continuation, [3]))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1009)
    }

    /// Autobahn 9.x-style sizes: limits configurable to 64 MiB and 1,000,000 fragments.
    @Test func largeLimitsWhenConfigured() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration(
            maxFrameSize: 64 << 20, maxMessageSize: 64 << 20, maxFragments: 1_000_000))
        var bytes = clientFrame(.binary, [0], fin: false)
        for i in 1..<70_000 { bytes += clientFrame(.continuation, [UInt8(truncatingIfNeeded: i)], fin: false) }
        bytes += clientFrame(.continuation, [])
        let big = [UInt8](repeating: 0x61, count: 3 << 20)
        bytes += clientFrame(.text, big)
        let out = feed(&server, bytes)
        #expect(out.events.count == 2)
        guard case .binary(let reassembled) = out.events.first else { Issue.record("no message"); return }
        #expect(reassembled.count == 70_000)
        #expect(reassembled[69_999] == UInt8(truncatingIfNeeded: 69_999))
        #expect(out.events.last == .text(String(decoding: big, as: UTF8.self)))
    }

    @Test func protocolViolationsAre1002() {
        let cases: [[UInt8]] = [
            clientFrame(.ping, [UInt8](repeating: 0, count: 126)),
            clientFrame(.continuation, [1]),
            clientFrame(.text, [1], fin: false) + clientFrame(.binary, [2]),
            clientFrame(.text, [1], key: nil),
            [0x83, 0x80, 0, 0, 0, 0],
        ]
        for bytes in cases {
            var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
            let out = feed(&server, bytes)
            #expect(closeCode(in: written(out.actions), readBy: .client) == 1002)
            guard case .closed(let status) = out.events.last else { Issue.record("no close"); continue }
            #expect(status.code == .protocolError)
            #expect(!status.wasClean)
            #expect(status.error != nil)
        }
    }

    /// Autobahn 3.2: a valid message and, in the same read, a frame with a reserved bit and
    /// a ping. The message is delivered and may be answered before the connection fails.
    @Test func anErrorAfterAMessageInTheSameReadWaitsUntilTheMessageIsHandled() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        var bad = clientFrame(.text, Array("x".utf8))
        bad[0] |= 0x20 // RSV2
        let out = feed(&server, clientFrame(.text, Array("Hello".utf8)) + bad + clientFrame(.ping, []))
        #expect(out.events == [.text("Hello")])
        #expect(written(out.actions).isEmpty, "no Close yet")
        let deferred = server.hasDeferredFailure, state = server.connectionState
        #expect(deferred)
        #expect(state == .open)
        // Input meanwhile is ignored: the stream is broken after the bad frame.
        #expect(feed(&server, clientFrame(.text, Array("later".utf8))).events.isEmpty)

        try server.sendText("Hello") // the application's echo
        server.failDeferred()
        let actions = server.takeActions()
        let bytes = written(actions)
        #expect(Array(bytes.prefix(7)) == serverFrame(.text, Array("Hello".utf8)), "the echo goes out first")
        #expect(closeCode(in: Array(bytes.dropFirst(7)), readBy: .client) == 1002)
        guard case .closed(let status) = server.takeEvents().last else {
            Issue.record("no close event")
            return
        }
        #expect(status.code == .protocolError)
        let stillDeferred = server.hasDeferredFailure
        #expect(!stillDeferred)
    }

    @Test func anErrorWithNoMessageBeforeItFailsAtOnce() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        var bad = clientFrame(.text, Array("x".utf8))
        bad[0] |= 0x20
        let out = feed(&server, bad + clientFrame(.text, Array("after".utf8)))
        let deferred = server.hasDeferredFailure
        #expect(!deferred)
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1002)
        #expect(out.events.count == 1) // only the close
    }

    @Test func aDeferredErrorIsWhatEndsTheConnectionAtEOFOrAnApplicationClose() throws {
        for ending in ["eof", "close"] {
            var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
            _ = feed(&server, clientFrame(.text, Array("Hi".utf8)) + clientFrame(.continuation, [1]))
            let deferred = server.hasDeferredFailure
            #expect(deferred)
            if ending == "eof" { server.receiveEOF() } else { try server.sendClose(code: .normalClosure) }
            guard case .closed(let status) = server.takeEvents().last else { Issue.record("no close event, \(ending)"); continue }
            #expect(status.code == .protocolError, "\(ending)")
        }
    }

    @Test func inputAfterFailureIsIgnored() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        _ = feed(&server, clientFrame(.continuation, [1]))
        let out = feed(&server, clientFrame(.text, Array("late".utf8)))
        #expect(out.events.isEmpty)
        #expect(out.actions.isEmpty)
    }

    @Test func eofWhileOpenIs1006() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        server.receiveEOF()
        #expect(server.takeEvents() == [.closed(WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))])
        #expect(server.takeActions() == [.closeTransport])
    }

    @Test func commandsMasksClientFrames() throws {
        var client = WebSocketProtocol(role: .client, configuration: testConfiguration())
        try client.sendText("Hello")
        try client.sendPing(Array("Hello".utf8))
        let bytes = written(client.takeActions())
        #expect(bytes == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58,
                          0x89, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    }

    @Test func fragmentedSend() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        try server.sendText("Hello", fragmentSize: 3)
        #expect(written(server.takeActions()) == [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
    }

    @Test func controlPayloadLimitOnSend() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        #expect(throws: WebSocketUsageError.self) { try server.sendPing([UInt8](repeating: 0, count: 126)) }
        #expect(throws: WebSocketUsageError.self) { try server.sendClose(code: WebSocketCloseCode(1005)) }
    }
}

/// RFC 6455 §7: the closing handshake.
@Suite("Protocol: closing handshake")
struct ClosingHandshakeTests {
    @Test func serverInitiatedClose() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        try server.sendClose(code: .goingAway, reason: "shutdown")
        #expect(server.connectionState == .closing)
        let actions = server.takeActions()
        #expect(actions == [.write(serverFrame(.close, closePayload(1001, "shutdown"))), .armCloseTimer(.seconds(10))])
        #expect(throws: WebSocketUsageError.self) { try server.sendText("late") }
        // Data after our Close is ignored; the peer's Close completes the handshake and
        // the server closes TCP first (§7.1.1).
        let out = feed(&server, clientFrame(.text, Array("ignored".utf8)) + clientFrame(.close, closePayload(1001)))
        #expect(out.events == [.closed(WebSocketCloseStatus(code: .goingAway, wasClean: true))])
        #expect(out.actions == [.closeTransport])
        #expect(server.connectionState == .closed)
    }

    @Test func pingAfterOurCloseIsNotAnswered() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        try server.sendClose()
        _ = server.takeActions()
        let out = feed(&server, clientFrame(.ping, [1]))
        #expect(out.actions.isEmpty)
    }

    @Test func closeTimeoutWithoutReply() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        try server.sendClose()
        _ = server.takeActions()
        server.closeTimerExpired()
        #expect(server.takeEvents() == [.closed(WebSocketCloseStatus(code: .abnormalClosure, wasClean: false))])
        #expect(server.takeActions() == [.closeTransport])
    }

    @Test func clientAnswersServerCloseAndWaitsForTCPClose() {
        var client = WebSocketProtocol(role: .client, configuration: testConfiguration())
        let out = feed(&client, serverFrame(.close, closePayload(1000, "done")))
        #expect(out.events == [.closed(WebSocketCloseStatus(code: .normalClosure, reason: "done", wasClean: true))])
        #expect(out.actions == [.write(clientFrame(.close, closePayload(1000))), .armCloseTimer(.seconds(10))])
        #expect(client.connectionState == .closed)
        client.receiveEOF()
        #expect(client.takeEvents().isEmpty)
        #expect(client.takeActions() == [.closeTransport])
    }

    /// Autobahn 7.1.5: fragment, Close, fragment — answered with a normal 1000 echo,
    /// the partial message is dropped and the later fragment ignored.
    @Test func closeInsideFragmentedMessage() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.text, Array("fragment1".utf8), fin: false)
            + clientFrame(.close, closePayload(1000)) + clientFrame(.continuation, Array("fragment2".utf8)))
        #expect(out.events == [.closed(WebSocketCloseStatus(code: .normalClosure, wasClean: true))])
        #expect(written(out.actions) == serverFrame(.close, closePayload(1000)))
        #expect(out.actions.last == .closeTransport)
    }

    @Test func closedEventIsEmittedOnce() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        _ = feed(&server, clientFrame(.close, closePayload(1000)))
        server.receiveEOF()
        server.closeTimerExpired()
        #expect(server.takeEvents().isEmpty)
    }
}

/// Keep-alive through `tick(now:)` with an injected clock.
@Suite("Keep-alive")
struct KeepAliveTests {
    static func configuration(ping: Duration? = .seconds(10), pong: Duration = .seconds(5), idle: Duration? = nil) -> WebSocketConfiguration {
        WebSocketConfiguration(keepAlive: .init(pingInterval: ping, pongTimeout: pong, idleTimeout: idle), maskingKeySource: .fixed(testKey))
    }

    @Test func pingsAtIntervalAndAcceptsMatchingPong() {
        let t0 = ContinuousClock.now
        var server = WebSocketProtocol(role: .server, configuration: Self.configuration())
        server.tick(now: t0)
        #expect(server.takeActions().isEmpty)
        server.tick(now: t0 + .seconds(9))
        #expect(server.takeActions().isEmpty)
        server.tick(now: t0 + .seconds(10))
        let ping = frames(in: written(server.takeActions()), readBy: .client)
        #expect(ping.count == 1 && ping[0].opcode == .ping && ping[0].payload.count == 8)
        _ = feed(&server, clientFrame(.pong, ping[0].payload))
        server.tick(now: t0 + .seconds(14))
        server.tick(now: t0 + .seconds(16))
        #expect(server.connectionState == .open)
        // Next ping 10 s after the first.
        server.tick(now: t0 + .seconds(20))
        #expect(frames(in: written(server.takeActions()), readBy: .client).first?.opcode == .ping)
    }

    @Test func missingPongFailsWith1011() {
        let t0 = ContinuousClock.now
        var server = WebSocketProtocol(role: .server, configuration: Self.configuration())
        server.tick(now: t0)
        server.tick(now: t0 + .seconds(10))
        _ = server.takeActions()
        _ = feed(&server, clientFrame(.pong, [1, 2, 3]))  // wrong payload does not count
        server.tick(now: t0 + .seconds(15))
        #expect(closeCode(in: written(server.takeActions()), readBy: .client) == 1011)
        #expect(server.connectionState == .closed)
        guard case .closed(let status) = server.takeEvents().last else { Issue.record("no close"); return }
        #expect(status.code == .internalError)
    }

    @Test func idleTimeoutClosesWith1001() {
        let t0 = ContinuousClock.now
        var server = WebSocketProtocol(role: .server, configuration: Self.configuration(ping: nil, idle: .seconds(30)))
        server.tick(now: t0)
        _ = feed(&server, clientFrame(.text, Array("hi".utf8)))
        server.tick(now: t0 + .seconds(20))  // activity seen at t0+20
        server.tick(now: t0 + .seconds(49))
        #expect(server.takeActions().isEmpty)
        server.tick(now: t0 + .seconds(50))
        let actions = server.takeActions()
        #expect(closeCode(in: written(actions), readBy: .client) == 1001)
        #expect(actions.last == .armCloseTimer(.seconds(10)))
        #expect(server.connectionState == .closing)
    }

    @Test func keepAliveStateMachineAlone() {
        let t0 = ContinuousClock.now
        let settings = WebSocketKeepAliveConfiguration(pingInterval: .seconds(1), pongTimeout: .seconds(1))
        var keepAlive = WebSocketKeepAlive()
        #expect(keepAlive.tick(now: t0, configuration: settings) == nil)
        guard case .sendPing(let payload) = keepAlive.tick(now: t0 + .seconds(1), configuration: settings) else { Issue.record("no ping"); return }
        #expect(keepAlive.hasOutstandingPing)
        keepAlive.recordPong(payload)
        #expect(keepAlive.tick(now: t0 + .milliseconds(1500), configuration: settings) == nil)
        #expect(!keepAlive.hasOutstandingPing)
    }
}

/// `sendsPlainFrames`: a driver may write a data frame itself (header from
/// `WebSocketFrameEncoder.withHeader`, then the payload) exactly when that frame is what a
/// send through the protocol would write, and nothing else is pending before it.
@Suite("Protocol: frames a driver writes itself")
struct PlainFrameTests {
    @Test(arguments: [0, 1, 125, 126, 65_535, 65_536])
    func theHeaderAndPayloadAreWhatASendWouldWrite(count: Int) throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let plain = server.sendsPlainFrames
        #expect(plain)
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        try server.sendBinary(payload)
        let sent = written(server.takeActions())
        for opcode in [WebSocketOpcode.binary, .text] {
            var direct: [UInt8] = []
            WebSocketFrameEncoder.withHeader(WebSocketFrameHeader(fin: true, opcode: opcode, payloadLength: count)) { header in
                header.withUnsafeBytes { direct.append(contentsOf: $0) }
            }
            direct += payload
            #expect(direct == serverFrame(opcode, payload))
            if opcode == .binary { #expect(direct == sent) }
        }
    }

    @Test func notWhileAnAnswerIsPendingNorAfterClosing() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        server.receiveData(clientFrame(.ping, [7]))
        let withPong = server.sendsPlainFrames
        #expect(!withPong, "the pong goes first")
        _ = server.takeActions()
        let drained = server.sendsPlainFrames
        #expect(drained)
        try server.sendClose()
        let closing = server.sendsPlainFrames
        #expect(!closing)
    }

    @Test func neverForAClientOrWithCompression() {
        let client = WebSocketProtocol(role: .client, configuration: testConfiguration())
        let clientPlain = client.sendsPlainFrames
        #expect(!clientPlain, "a client masks its frames")
        let compressed = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: PerMessageDeflateParameters())
        let compressedPlain = compressed.sendsPlainFrames
        #expect(!compressedPlain)
    }

    /// Headers written byte for byte as RFC 6455 §5.2 lays them out, through both encoders.
    @Test(arguments: [
        (WebSocketFrameHeader(fin: true, opcode: .binary, payloadLength: 0), [0x82, 0x00] as [UInt8]),
        (WebSocketFrameHeader(fin: true, opcode: .text, payloadLength: 125), [0x81, 0x7D]),
        (WebSocketFrameHeader(fin: true, opcode: .binary, maskingKey: testKey, payloadLength: 300),
         [0x82, 0xFE, 0x01, 0x2C, 0x37, 0xFA, 0x21, 0x3D]),
        (WebSocketFrameHeader(fin: false, rsv1: true, opcode: .text, payloadLength: 65_535), [0x41, 0x7E, 0xFF, 0xFF]),
        (WebSocketFrameHeader(fin: true, opcode: .continuation, maskingKey: testKey, payloadLength: 70_000),
         [0x80, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70, 0x37, 0xFA, 0x21, 0x3D]),
    ])
    func headersAreWrittenAsTheRFCLaysThemOut(header: WebSocketFrameHeader, expected: [UInt8]) {
        var appended: [UInt8] = [0xAA] // something before: appended, not written over
        WebSocketFrameEncoder.appendHeader(header, to: &appended)
        #expect(appended == [0xAA] + expected)
        let viaSpan = WebSocketFrameEncoder.withHeader(header) { bytes in bytes.withUnsafeBytes { Array($0) } }
        #expect(viaSpan == expected)
    }

    /// A protocol error after a lent message, in the same input, is deferred as after a
    /// copied one: the driver hands the message over, then fails the connection.
    @Test func aViolationAfterALentMessageIsDeferred() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        var input = clientFrame(.text, Array("hi".utf8)) + [0x83, 0x80, 0, 0, 0, 0] // then reserved opcode 3
        try input.withUnsafeMutableBytes { raw in
            var index = 0
            let lent = try #require(server.receiveData(raw, from: &index))
            #expect(Array(raw[lent.payload]) == Array("hi".utf8))
            #expect(server.receiveData(raw, from: &index) == nil)
            let deferred = server.hasDeferredFailure, state = server.connectionState
            #expect(deferred)
            #expect(state == .open)
        }
        server.failDeferred()
        #expect(closeCode(in: written(server.takeActions()), readBy: .client) == 1002)
        #expect(server.connectionState == .closed)
        // Without a message before it in the input, the same violation fails at once.
        var fresh = WebSocketProtocol(role: .server, configuration: testConfiguration())
        var violation: [UInt8] = [0x83, 0x80, 0, 0, 0, 0]
        violation.withUnsafeMutableBytes { raw in
            var index = 0
            #expect(fresh.receiveData(raw, from: &index) == nil)
        }
        let deferred = fresh.hasDeferredFailure, state = fresh.connectionState
        #expect(!deferred)
        #expect(state == .closed)
    }
}
