import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// `GET /api/session`: the role a token has, so a dashboard shows controls only to operators.
@Suite("DAG stream: the session's role", .timeLimit(.minutes(3)))
struct SessionRouteTests {
    @Test func eachTokenLearnsItsRoleAndNoTokenLearnsNothing() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op"]
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let loop = server.group.loops[0]
        let get = { (query: String) in HistoryRoutesTests.split(try await httpGet("/api/session\(query)", port: server.port, loop: loop)) }

        let operatorAnswer = try await get("?token=op")
        #expect(operatorAnswer.status == "HTTP/1.1 200 OK")
        #expect(operatorAnswer.body == #"{"role":"operator"}"#)
        let viewerAnswer = try await get("?token=v")
        #expect(viewerAnswer.status == "HTTP/1.1 200 OK")
        #expect(viewerAnswer.body == #"{"role":"viewer"}"#)
        #expect(try await get("").status.hasPrefix("HTTP/1.1 401"))
        #expect(try await get("?token=nope").status.hasPrefix("HTTP/1.1 401"))

        #expect(await server.stop())
        await engine.shutdown()
    }
}
