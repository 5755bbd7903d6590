import EddyHTTP
import EddyLoop
import EddyNet
import EddyTestSupport
import Testing

/// `HTTPServer` over real sockets: exact answers to bad requests, keep-alive and HEAD, a
/// deadline on every phase of an exchange, and pipelining.
@Suite("HTTP server", .timeLimit(.minutes(3)))
struct HTTPServerTests {
    /// `expectAnswer` against `server`.
    func expect(_ status: Int, for request: String, server: HTTPServerFixture, closes: Bool = true,
                headerContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectAnswer(status, to: request, port: server.port, loop: server.group.loops[0], closes: closes,
                               headerContains: headerContains, sourceLocation: sourceLocation)
    }

    @Test func healthAndKeepAlive() async throws {
        let server = try await HTTPServerFixture.start()
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
        #expect(await server.stop())
    }

    @Test func malformedAndOversizedRequests() async throws {
        let server = try await HTTPServerFixture.start()
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
        #expect(await server.stop())
    }

    @Test func slowHeadersGet408AndAreClosed() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.headerTimeout = .milliseconds(200)
        let server = try await HTTPServerFixture.start(configuration: configuration)
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await client.send("GET /healthz HTTP/1.1\r\nHo") // and then nothing
        let response = try #require(try await client.response())
        #expect(response.status == 408)
        #expect(await client.serverClosed())
        await client.connection.close()
        #expect(server.server.statistics.responses[408] == 1)
        #expect(await server.stop())
    }

    /// A client that pipelines requests and never reads its responses used to hold its
    /// connection (and the responses queued for it) for ever: the write waited without a
    /// deadline. Now it is dropped after `writeTimeout`, and the server serves others.
    @Test func aClientThatNeverReadsIsDroppedAfterTheWriteTimeout() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.writeTimeout = .milliseconds(300)
        var tcp = TCPConfiguration()
        tcp.sendBufferSize = 4096 // the kernel's share fills at once
        let server = try await HTTPServerFixture.start(configuration: configuration, tcp: tcp)
        let (status, output) = try await runPythonPeer("http_never_reads.py", [String(server.port), "/healthz", "20"])
        #expect(status == 0, "\(output)")
        #expect(server.server.statistics.writeTimeouts == 1)
        var probe = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await probe.response()?.status == 200)
        await probe.connection.close()
        #expect(await server.stop())
    }

    /// Thousands of requests in one write are answered, in order; the parser takes them in
    /// place from the read that carried them.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try await HTTPServerFixture.start()
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[1])
        let count = 3000
        let pair = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        // Written while reading, so neither side's buffers can fill up and stall the other.
        let connection = client.connection
        let requests = Array(String(repeating: pair, count: count / 2).utf8)
        let writer = Task { try await connection.write(requests) }
        var statuses: [Int] = []
        for _ in 0..<count {
            guard let response = try await client.response() else { break }
            statuses.append(response.status)
        }
        try await writer.value
        #expect(statuses.count == count)
        #expect(statuses == Array(repeating: [200, 404], count: count / 2).flatMap { $0 })
        await client.connection.close()
        #expect(await server.stop())
    }
}
