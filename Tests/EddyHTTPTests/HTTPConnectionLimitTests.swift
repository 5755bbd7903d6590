import EddyHTTP
import EddyLoop
import EddyNet
import EddyTestSupport
import Testing

/// Connection limits seen by a real HTTP client (Python's http.client): 429 over the
/// per-address limit, 503 at capacity, the served connections unaffected.
@Suite("HTTP server: connection limits answer 503 and 429", .timeLimit(.minutes(3)))
struct HTTPConnectionLimitTests {
    @Test func aPythonClientIsAnswered429PerAddressAnd503AtCapacity() async throws {
        let server = try await HTTPServerFixture.start(limits: ConnectionLimits(maxConnections: 4, maxConnectionsPerAddress: 2))
        let (status, output) = try await runPythonPeer("http_connection_limits.py", ["\(server.port)"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 checks failed"), "\(output)")
        let refused = server.listener.refusedCounts
        #expect(refused.addressLimit >= 1 && refused.capacity >= 1, "\(refused)")
        #expect(await server.stop())
    }
}
