import Testing
@testable import EddyWebSocketCore

/// RFC 6455 §5.5.1, §7.4: Close payloads and codes.
@Suite("§7.4 close codes")
struct CloseCodeTests {
    static let table: [(UInt16, Bool)] = [
        (0, false), (999, false), (1000, true), (1001, true), (1002, true), (1003, true),
        (1004, false), (1005, false), (1006, false), (1007, true), (1008, true), (1009, true),
        (1010, true), (1011, true), (1012, false), (1013, false), (1014, false), (1015, false),
        (1016, false), (1100, false), (2000, false), (2999, false), (3000, true), (3999, true),
        (4000, true), (4999, true), (5000, false), (65535, false),
    ]

    @Test func validity() {
        for (code, valid) in Self.table {
            #expect(WebSocketCloseCode(code).isValidOnWire == valid, "\(code)")
        }
    }

    @Test func serverEchoesValidCodesAndFailsInvalidOnesWith1002() {
        for (code, valid) in Self.table {
            var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
            let out = feed(&server, clientFrame(.close, closePayload(code)))
            #expect(closeCode(in: written(out.actions), readBy: .client) == (valid ? code : 1002), "\(code)")
            #expect(out.actions.last == .closeTransport)
            #expect(server.connectionState == .closed)
            guard case .closed(let status) = out.events.last else {
                Issue.record("no closed event for \(code)")
                continue
            }
            #expect(status.wasClean == valid)
        }
    }

    @Test func emptyCloseIsAnsweredWithEmptyClose() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.close, []))
        #expect(written(out.actions) == [0x88, 0x00])
        #expect(out.events == [.closed(WebSocketCloseStatus(code: .noStatusReceived, wasClean: true))])
    }

    @Test func onePayloadByteIs1002() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.close, [0x03]))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1002)
    }

    @Test func invalidUTF8ReasonIs1007() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.close, closePayload(1000) + [0xCE, 0xBA, 0xED, 0xA0, 0x80]))
        #expect(closeCode(in: written(out.actions), readBy: .client) == 1007)
    }

    @Test func validReasonIsReported() {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let out = feed(&server, clientFrame(.close, closePayload(1001, "bye κόσμε")))
        #expect(out.events == [.closed(WebSocketCloseStatus(code: .goingAway, reason: "bye κόσμε", wasClean: true))])
        // The echo carries the code only.
        #expect(written(out.actions) == [0x88, 0x02, 0x03, 0xE9])
    }

    @Test func encodeTruncatesOnACharacterBoundary() {
        let frame = WebSocketCloseFrame(code: .normalClosure, reason: String(repeating: "é", count: 100))
        let payload = frame.encode()
        #expect(payload.count <= 125)
        #expect(UTF8Validator.isValid(Array(payload[2...])))
    }
}

@Suite("Sendable close codes")
struct SendableCloseCodeTests {
    @Test(arguments: [(UInt16(1000), true), (1008, true), (1012, true), (1013, true), (1014, true), (1005, false), (1006, false), (1015, false), (2999, false), (4999, true)])
    func sendable(code: UInt16, allowed: Bool) {
        #expect(WebSocketCloseCode(code).isSendable == allowed)
    }

    @Test func aServerMaySend1013ToShedLoad() throws {
        var server = WebSocketProtocol(role: .server, configuration: testConfiguration())
        try server.sendClose(code: .tryAgainLater, reason: "too slow")
        #expect(closeCode(in: written(server.takeActions()), readBy: .client) == 1013)
    }
}
