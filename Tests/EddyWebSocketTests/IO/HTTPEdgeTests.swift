import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import Testing

/// A minimal HTTP/1.1 client over raw TCP, for sending exactly the bytes a test wants.
struct RawHTTPClient {
    let connection: TCPConnection
    var buffer: [UInt8] = []

    static func connect(port: Int, loop: EventLoop) async throws -> RawHTTPClient {
        RawHTTPClient(connection: try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop))
    }

    func send(_ text: String) async throws { try await connection.write(Array(text.utf8)) }

    /// Reads one response: status code, head text, body. Nil if the server closed first.
    /// A response to HEAD (`toHead`) has no body, whatever its Content-Length says.
    mutating func response(toHead: Bool = false) async throws -> (status: Int, head: String, body: String)? {
        while true {
            if let end = findHeadEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let length = toHead ? 0 : Self.contentLength(head) ?? 0
                if buffer.count >= end + 4 + length {
                    let body = String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    buffer.removeFirst(end + 4 + length)
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, head, body)
                }
            }
            guard let chunk = try await connection.read() else { return nil }
            buffer += chunk
        }
    }

    /// The Content-Length of a response head, if it has one.
    static func contentLength(_ head: String) -> Int? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int(String($0.split(separator: ":")[1].filter { $0 != " " })) }
    }

    /// Whether the server closed the connection (reads to end of stream).
    mutating func serverClosed() async -> Bool {
        do {
            while let chunk = try await connection.read() { buffer += chunk }
            return true
        } catch {
            return true // reset counts as closed
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

@Suite("HTTP edge: exact answers to bad requests", .timeLimit(.minutes(1)))
struct HTTPEdgeTests {
    static let upgradeHead = "GET /default HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    static let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

    /// Sends `request`, expects `status`, and checks the server still serves afterwards.
    func expect(_ status: Int, for request: String, server: EchoServerFixture, closes: Bool = true,
                headerContains: String? = nil) async throws {
        let loop = server.group.loops[0]
        var client = try await RawHTTPClient.connect(port: server.port, loop: loop)
        try await client.send(request)
        let response = try #require(try await client.response(), "no response to \(request.debugDescription)")
        #expect(response.status == status, "request \(request.prefix(80).debugDescription)")
        if let headerContains { #expect(response.head.contains(headerContains), "\(response.head)") }
        if closes { #expect(await client.serverClosed()) }
        await client.connection.close()
        // The server keeps serving.
        var probe = try await RawHTTPClient.connect(port: server.port, loop: loop)
        try await probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await probe.response()?.status == 200)
        await probe.connection.close()
    }

    @Test func healthAndKeepAlive() async throws {
        let server = try await EchoServerFixture.start()
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try #require(try await client.response())
        #expect(first.status == 200 && first.body == "ok\n")
        let second = try #require(try await client.response())
        #expect(second.status == 404)
        // HEAD carries GET's headers, Content-Length included, and no body.
        try await client.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let third = try #require(try await client.response(toHead: true))
        #expect(third.status == 200 && third.body.isEmpty)
        #expect(RawHTTPClient.contentLength(third.head) == 3, "\(third.head)")
        #expect(RawHTTPClient.contentLength(first.head) == 3, "\(first.head)")
        #expect(await client.serverClosed())
        await client.connection.close()
        #expect(await server.stop().allSatisfy { $0.isClean })
    }

    @Test func malformedAndOversizedRequests() async throws {
        let server = try await EchoServerFixture.start()
        try await expect(400, for: "GARBAGE\r\n\r\n", server: server)
        try await expect(400, for: "GET / HTTP/1.1\r\n\r\n", server: server) // HTTP/1.1 needs Host
        try await expect(414, for: "GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\nHost: x\r\n\r\n", server: server)
        try await expect(431, for: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 9000) + "\r\n\r\n", server: server)
        let manyHeaders = (0..<101).map { "X-\($0): v\r\n" }.joined()
        try await expect(431, for: "GET / HTTP/1.1\r\nHost: x\r\n" + manyHeaders + "\r\n", server: server)
        try await expect(501, for: "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", server: server)
        try await expect(413, for: "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", server: server)
        // Bare LF or CR line ends: 400 at once (the head timeout is 10 s here; a client that
        // waited for it would get 408 instead).
        try await expect(400, for: "GET /healthz HTTP/1.1\nHost: x\n\n", server: server)
        try await expect(400, for: "GET /healthz HTTP/1.1\r\nHost: x\n\n", server: server)
        try await expect(400, for: "GET /healthz HTTP/1.1\rHost: x\r\n\r\n", server: server)
        #expect(server.server.statistics.responses[408] == nil)
        #expect(await server.stop().allSatisfy { $0.isClean })
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

    @Test func slowHeadersGet408AndAreClosed() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.headerTimeout = .milliseconds(200)
        let server = try await EchoServerFixture.start(httpConfiguration: configuration)
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await client.send("GET /healthz HTTP/1.1\r\nHo") // and then nothing
        let response = try #require(try await client.response())
        #expect(response.status == 408)
        #expect(await client.serverClosed())
        await client.connection.close()
        #expect(server.server.statistics.responses[408] == 1)
        #expect(await server.stop().allSatisfy { $0.isClean })
    }
}
