import Testing
@testable import EddyWebSocketCore

/// The protocol's out-of-line inbound state (decoder, message being reassembled): an idle
/// connection holds none; it exists while a message is arriving and is dropped between
/// messages, with no change in behaviour.
@Suite("Protocol: inbound state held only while a message arrives")
struct InboundStateTests {
    @Test func aNewConnectionHoldsNoInboundState() {
        let server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        #expect(!(server.holdsInboundState as Bool))
    }

    @Test func heldDuringAFragmentedMessageAndReleasedAfterIt() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let first = feed(&server, clientFrame(.text, Array("Hel".utf8), fin: false))
        #expect(first.events.isEmpty)
        #expect((server.holdsInboundState as Bool))
        // Mid-message: releasing must keep the partial message.
        server.releaseIdleState()
        #expect((server.holdsInboundState as Bool))
        let second = feed(&server, clientFrame(.continuation, Array("lo".utf8)))
        #expect(second.events == [.text("Hello")])
        server.releaseIdleState()
        #expect(!(server.holdsInboundState as Bool))
        // A fresh state serves the next message.
        let third = feed(&server, clientFrame(.binary, [1, 2, 3]))
        #expect(third.events == [.binary([1, 2, 3])])
    }

    @Test func keptWhileAHeaderOrAPayloadIsSplitAcrossReads() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let frame = clientFrame(.text, Array("Hello, world".utf8))
        // Split inside the header, then inside the payload.
        for cut in [1, 4, 9] {
            _ = feed(&server, Array(frame[..<cut]))
            server.releaseIdleState()
            #expect((server.holdsInboundState as Bool), "cut at \(cut)")
            let rest = feed(&server, Array(frame[cut...]))
            #expect(rest.events == [.text("Hello, world")], "cut at \(cut)")
            server.releaseIdleState()
            #expect(!(server.holdsInboundState as Bool), "cut at \(cut)")
        }
    }

    @Test func utf8StateSurvivesAcrossFragmentsUntilTheMessageEnds() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        _ = feed(&server, clientFrame(.text, Array(euro[..<2]), fin: false))
        server.releaseIdleState()
        let out = feed(&server, clientFrame(.continuation, Array(euro[2...])))
        #expect(out.events == [.text("€")])
    }

    @Test func aKeepAliveTickWithoutFramesReleasesIt() {
        let configuration = WebSocketConfiguration(keepAlive: .init(pingInterval: .seconds(100)), maskingKeySource: .fixed(testKey))
        var server = WebSocketProtocol(role: .server, configuration: configuration)
        let start = ContinuousClock.now
        _ = feed(&server, clientFrame(.binary, [1]))
        server.tick(now: start)  // a frame came since the previous tick: kept
        #expect((server.holdsInboundState as Bool))
        server.tick(now: start + .seconds(1))  // nothing since: released
        #expect(!(server.holdsInboundState as Bool))
    }
}

/// `#expect` cannot inspect a noncopyable value's property directly.
private func held(_ proto: borrowing WebSocketProtocol) -> Bool { proto.holdsInboundState }
