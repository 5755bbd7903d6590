import EddyHTTP
import EddyLoop
import EddyNet
import EddyTestSupport
import EddyWebSocket
import Testing

/// Every phase of an HTTP exchange has a deadline, and pipelined input is served in order.
@Suite("HTTP edge: deadlines and pipelining", .timeLimit(.minutes(1)))
struct HTTPDeadlineTests {
    /// A client that pipelines requests and never reads its responses used to hold its
    /// connection (and the responses queued for it) for ever: the write waited without a
    /// deadline. Now it is dropped after `writeTimeout`, and the server serves others.
    @Test func aClientThatNeverReadsIsDroppedAfterTheWriteTimeout() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.writeTimeout = .milliseconds(300)
        var tcp = TCPConfiguration()
        tcp.sendBufferSize = 4096 // the kernel's share fills at once
        let server = try await EchoServerFixture.start(httpConfiguration: configuration, tcp: tcp)
        let (status, output) = try await runPythonPeer("http_never_reads.py", [String(server.port), "/healthz", "20"])
        #expect(status == 0, "\(output)")
        #expect(server.server.statistics.writeTimeouts == 1)
        var probe = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await probe.response()?.status == 200)
        await probe.connection.close()
        #expect(await server.stop().allSatisfy { $0.isClean })
    }

    /// Thousands of requests in one write are answered, in order; the parser takes them in
    /// place from the read that carried them.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try await EchoServerFixture.start()
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
        #expect(await server.stop().allSatisfy { $0.isClean })
    }

    /// The server side of a WebSocket handshake has a deadline too: a hook that never
    /// decides does not hold the connection past `handshakeTimeout`.
    @Test func aHandshakeThatNeverCompletesIsClosed() async throws {
        let server = try await EchoServerFixture.start(handshakeTimeout: .milliseconds(300))
        var client = try await RawHTTPClient.connect(port: server.port, loop: server.group.loops[0])
        try await client.send("GET /stalled-hook HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + HTTPEdgeTests.key + "Sec-WebSocket-Version: 13\r\n\r\n")
        #expect(try await client.response() == nil, "no 101, no answer: closed")
        await client.connection.close()
        #expect(await server.stop().allSatisfy { $0.isClean })
    }
}
