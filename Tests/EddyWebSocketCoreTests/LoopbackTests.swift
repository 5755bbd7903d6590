import Testing
@testable import EddyWebSocketCore

/// A client and a server protocol object exchanging bytes in memory, with
/// fragmented, compressed and control messages, ending with a closing handshake.
@Suite("Client ↔ server in memory")
struct LoopbackTests {
    /// Moves bytes both ways until neither side writes anything; returns the events of
    /// each side and whether each asked to close the transport.
    static func pump(_ client: inout WebSocketProtocol, _ server: inout WebSocketProtocol, chunk: Int)
        -> (client: [WebSocketEvent], server: [WebSocketEvent], clientClose: Bool, serverClose: Bool) {
        var clientEvents: [WebSocketEvent] = [], serverEvents: [WebSocketEvent] = []
        var clientClose = false, serverClose = false
        for _ in 0..<100 {
            var moved = false
            for action in client.takeActions() {
                switch action {
                case .write(let bytes):
                    moved = true
                    var index = 0
                    while index < bytes.count {  // deliver in small chunks
                        server.receiveData(Array(bytes[index..<min(index + chunk, bytes.count)]))
                        index += chunk
                    }
                case .closeTransport: clientClose = true
                case .armCloseTimer: break
                }
            }
            for action in server.takeActions() {
                switch action {
                case .write(let bytes):
                    moved = true
                    client.receiveData(bytes)
                case .closeTransport: serverClose = true
                case .armCloseTimer: break
                }
            }
            clientEvents += client.takeEvents()
            serverEvents += server.takeEvents()
            if !moved { break }
        }
        return (clientEvents, serverEvents, clientClose, serverClose)
    }

    @Test(arguments: [1, 7, 4096])
    func conversation(_ chunk: Int) throws {
        let deflate = PerMessageDeflateParameters(serverMaxWindowBits: 12, clientMaxWindowBits: 12)
        let configuration = PerMessageDeflateConfiguration(compressionThreshold: 32)
        var client = WebSocketProtocol(role: .client, configuration: WebSocketConfiguration(keepAlive: .disabled),
                                       deflate: deflate, deflateConfiguration: configuration)
        var server = WebSocketProtocol(role: .server, configuration: WebSocketConfiguration(keepAlive: .disabled),
                                       deflate: deflate, deflateConfiguration: configuration)
        let long = String(repeating: "{\"event\":\"node_state\",\"node\":42,\"state\":\"running\"} ", count: 50)
        let binary = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 31) }

        try client.sendText("hi")
        try client.sendText(long, fragmentSize: 100)
        try client.sendPing([1, 2, 3])
        try client.sendBinary(binary, fragmentSize: 1000)
        try client.sendText("κόσμε € 😀", fragmentSize: 3)
        var result = Self.pump(&client, &server, chunk: chunk)
        #expect(result.server == [.text("hi"), .text(long), .ping([1, 2, 3]), .binary(binary), .text("κόσμε € 😀")])
        #expect(result.client == [.pong([1, 2, 3])])

        // The server echoes everything back, compressed where above the threshold.
        for event in result.server {
            switch event {
            case .text(let text): try server.sendText(text, fragmentSize: 64)
            case .binary(let bytes): try server.sendBinary(bytes)
            default: break
            }
        }
        result = Self.pump(&client, &server, chunk: chunk)
        #expect(result.client == [.text("hi"), .text(long), .binary(binary), .text("κόσμε € 😀")])

        // Closing handshake initiated by the client; the server closes TCP first.
        try client.sendClose(code: .normalClosure, reason: "done")
        result = Self.pump(&client, &server, chunk: chunk)
        #expect(result.server == [.closed(WebSocketCloseStatus(code: .normalClosure, reason: "done", wasClean: true))])
        #expect(result.client == [.closed(WebSocketCloseStatus(code: .normalClosure, wasClean: true))])
        #expect(result.serverClose)
        #expect(!result.clientClose)  // the client waits for the server's TCP close
        #expect(client.connectionState == .closed && server.connectionState == .closed)
        client.receiveEOF()
        #expect(client.takeActions() == [.closeTransport])
        #expect(client.compressionMemory > 0 && server.compressionMemory > 0)
    }
}
