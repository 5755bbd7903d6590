import Testing
@testable import EddyWebSocketCore

/// What the handshake agreed on is boxed once per distinct agreement and shared.
@Suite("Negotiated agreement: shared between connections")
struct NegotiatedTests {
    @Test func nothingAgreedKeepsNoBox() {
        #expect(WebSocketNegotiated.make(subprotocol: nil, deflate: nil) == nil)
    }

    @Test func theSameAgreementIsOneSharedBox() {
        let deflate = PerMessageDeflateParameters(serverNoContextTakeover: true, clientMaxWindowBits: 12)
        let first = WebSocketNegotiated.make(subprotocol: "eddy.test.shared", deflate: deflate)
        let second = WebSocketNegotiated.make(subprotocol: "eddy.test.shared", deflate: deflate)
        #expect(first != nil && first === second)
        #expect(second?.subprotocol == "eddy.test.shared" && second?.deflate == deflate)
        let other = WebSocketNegotiated.make(subprotocol: "eddy.test.other", deflate: deflate)
        #expect(other !== first)
        #expect(other?.subprotocol == "eddy.test.other")
    }

    @Test func protocolsReportTheirAgreement() {
        let deflate = PerMessageDeflateParameters()
        let server = WebSocketProtocol(role: .server, configuration: testConfiguration(), deflate: deflate, subprotocol: "chat")
        let compressed: Bool = server.isCompressionEnabled
        let subprotocol: String? = server.subprotocol
        let parameters: PerMessageDeflateParameters? = server.deflateParameters
        #expect(compressed && subprotocol == "chat" && parameters == deflate)
        let plain = WebSocketProtocol(role: .server, configuration: testConfiguration())
        let plainCompressed: Bool = plain.isCompressionEnabled
        let plainSubprotocol: String? = plain.subprotocol
        #expect(!plainCompressed && plainSubprotocol == nil)
    }
}
