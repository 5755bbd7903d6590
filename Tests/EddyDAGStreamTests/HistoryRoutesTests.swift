import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// Time travel: a run's past, rebuilt from the durable log, over HTTP.
@Suite("DAG stream: history from the log", .timeLimit(.minutes(2)))
struct HistoryRoutesTests {
    /// The body of an HTTP response, and its status line.
    static func split(_ response: String) -> (status: String, body: String) {
        let parts = response.components(separatedBy: "\r\n\r\n")
        return (parts.first?.components(separatedBy: "\r\n").first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// A finished run of a chain of tasks, each with an output.
    static func finishedRun(_ engine: DAGEngine) async throws -> String {
        var builder = DAGBuilder()
        builder.task("fetch") { _ in .string("page <b>1</b>") }
        builder.task("parse", after: ["fetch"]) { _ in .int(42) }
        builder.task("rank", after: ["parse"]) { _ in .string("ranked") }
        builder.task("store", after: ["rank"]) { _ in .null }
        let runID = try await engine.start(try builder.build(), runID: "run-history")
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        return runID
    }

    @Test func historyAtEverySeqMatchesTheLogReducedUpToItEvenAfterARestart() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let first = try log.engine()
        let runID = try await Self.finishedRun(first)
        let events = try first.events(runID: runID)
        await first.shutdown()

        // A new process's engine on the same log: the finished run is still browsable.
        let engine = try log.engine()
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let loop = server.group.loops[0]
        #expect(events.count > 8)

        var store = DAGStateStore(dagID: runID, epoch: engine.epoch)
        for seq in 0...events.count {
            if seq > 0 { store.apply(events[seq - 1]) }
            let expected = store.snapshotEnvelope(ts: seq > 0 ? events[seq - 1].ts : 0)
            let (status, body) = Self.split(try await httpGet("/api/dags/\(runID)/history?at=\(seq)&token=v", port: server.port, loop: loop))
            #expect(status == "HTTP/1.1 200 OK", "at=\(seq)")
            #expect(body == String(decoding: expected.jsonBytes, as: UTF8.self), "at=\(seq)")
        }
        // Past the head, or without `at`: the head.
        let head = Self.split(try await httpGet("/api/dags/\(runID)/history?token=v", port: server.port, loop: loop)).body
        let past = Self.split(try await httpGet("/api/dags/\(runID)/history?at=999999&token=v", port: server.port, loop: loop)).body
        #expect(head == String(decoding: store.snapshotEnvelope(ts: events[events.count - 1].ts).jsonBytes, as: UTF8.self))
        #expect(past == head)

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func eventsComePagedAsTheLogStoredThem() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        let runID = try await Self.finishedRun(engine)
        let stored = try engine.log.eventBytes(runID: runID, after: 0).map { String(decoding: $0, as: UTF8.self) }
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let loop = server.group.loops[0]

        var after = 0
        var pages = 0
        var received: [String] = []
        while pages < 100 {
            let (status, body) = Self.split(try await httpGet("/api/dags/\(runID)/events?after=\(after)&limit=3&token=v", port: server.port, loop: loop))
            #expect(status == "HTTP/1.1 200 OK")
            pages += 1
            let page = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(page["dag_id"] as? String == runID)
            #expect(page["epoch"] as? Int64 == engine.epoch)
            #expect(page["head"] as? Int == stored.count)
            let events = try #require(page["events"] as? [[String: Any]])
            #expect(events.count <= 3)
            if events.isEmpty { break }
            after = try #require(events.last?["seq"] as? Int)
            // The page's raw bytes contain each stored event verbatim.
            for event in events {
                let seq = try #require(event["seq"] as? Int)
                #expect(body.contains(stored[seq - 1]), "seq \(seq) is not the stored bytes")
                received.append(stored[seq - 1])
            }
        }
        #expect(received == stored)
        #expect(pages == (stored.count + 2) / 3 + 1) // full pages, then one empty page

        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func badParametersUnknownRunsAndMissingTokensGetPreciseStatuses() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        let runID = try await Self.finishedRun(engine)
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let loop = server.group.loops[0]

        let cases: [(String, String)] = [
            ("/api/dags/\(runID)/history?at=-1&token=v", "HTTP/1.1 400"),
            ("/api/dags/\(runID)/history?at=1e3&token=v", "HTTP/1.1 400"),
            ("/api/dags/\(runID)/history?at=99999999999999999999&token=v", "HTTP/1.1 400"),
            ("/api/dags/\(runID)/events?limit=0&token=v", "HTTP/1.1 400"),
            ("/api/dags/\(runID)/events?limit=10001&token=v", "HTTP/1.1 400"),
            ("/api/dags/\(runID)/events?after=%2B1&token=v", "HTTP/1.1 400"),
            ("/api/dags/no-such-run/history?token=v", "HTTP/1.1 404"),
            ("/api/dags/no-such-run/events?token=v", "HTTP/1.1 404"),
            ("/api/dags/\(runID)/history", "HTTP/1.1 401"),
            ("/api/dags/\(runID)/events?token=wrong", "HTTP/1.1 401"),
            ("/api/dags/\(runID)/events?after=9223372036854775807&token=v", "HTTP/1.1 200"),
        ]
        for (path, expected) in cases {
            let (status, body) = Self.split(try await httpGet(path, port: server.port, loop: loop))
            #expect(status.hasPrefix(expected), "\(path): \(status) \(body.prefix(80))")
        }
        let reason = Self.split(try await httpGet("/api/dags/\(runID)/events?limit=0&token=v", port: server.port, loop: loop)).body
        #expect(reason.contains("limit must be 1 to 10000"))

        #expect(await server.stop())
        await engine.shutdown()
    }
}
