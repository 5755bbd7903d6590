import EddyHTTP
import EddyLoop
import EddyNet
import EddyTestSupport
import EddyWebSocket
import Testing

/// The server side of the WebSocket opening handshake over real sockets: exact refusals
/// (RFC 6455 §4.2.1), origins, and the handshake's deadline.
@Suite("WebSocket handshake: refusals and deadline", .timeLimit(.minutes(3)))
struct WebSocketHandshakeEdgeTests {
    static let upgradeHead = "GET /default HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    static let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

    /// `expectAnswer` against `server`.
    func expect(_ status: Int, for request: String, server: EchoServerFixture, closes: Bool = true,
                headerContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectAnswer(status, to: request, port: server.port, loop: server.group.loops[0], closes: closes,
                               headerContains: headerContains, sourceLocation: sourceLocation)
    }

    @Test func webSocketHandshakeAbuse() async throws {
        let server = try await EchoServerFixture.start(origins: .allowList(["http://good.example"]))
        // Wrong method on an upgrade route.
        try await expect(405, for: "POST /default HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", server: server, closes: false)
        // Missing key, bad key, missing Upgrade.
        try await expect(400, for: Self.upgradeHead + "Sec-WebSocket-Version: 13\r\n\r\n", server: server)
        try await expect(400, for: Self.upgradeHead + "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", server: server)
        try await expect(400, for: "GET /default HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n" + Self.key + "Sec-WebSocket-Version: 13\r\n\r\n", server: server)
        // Wrong version: 426 with the version we speak.
        try await expect(426, for: Self.upgradeHead + Self.key + "Sec-WebSocket-Version: 8\r\n\r\n", server: server,
                         headerContains: "Sec-WebSocket-Version: 13")
        // Origin not on the allowlist: 403 (cross-site WebSocket hijacking).
        try await expect(403, for: Self.upgradeHead + Self.key + "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n", server: server)
        // The allowed origin and a client without Origin both get 101.
        for origin in ["Origin: http://good.example\r\n", ""] {
            var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
            try await client.send(Self.upgradeHead + Self.key + "Sec-WebSocket-Version: 13\r\n" + origin + "\r\n")
            let response = try #require(try await client.response())
            #expect(response.status == 101)
            #expect(response.head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
            await client.connection.close()
        }
        #expect(await server.stop().allSatisfy { $0.isClean })
    }

    /// The server side of a WebSocket handshake has a deadline too: a hook that never
    /// decides does not hold the connection past `handshakeTimeout`.
    @Test func aHandshakeThatNeverCompletesIsClosed() async throws {
        let server = try await EchoServerFixture.start(handshakeTimeout: .milliseconds(300))
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await client.send("GET /stalled-hook HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + Self.key + "Sec-WebSocket-Version: 13\r\n\r\n")
        #expect(try await client.response() == nil, "no 101, no answer: closed")
        await client.connection.close()
        #expect(await server.stop().allSatisfy { $0.isClean })
    }
}
