import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// Runs across `eddy serve` processes through a real `redis-server` (issue 17): three nodes
/// run the same workflow; Python dashboards on all three watch node A's run, its gate is
/// decided from node C, and operators on A and C race to decide B's gate.
@Suite("eddy runs across nodes (Redis)", .timeLimit(.minutes(3)))
struct RunsAcrossNodesCommandTests {
    static let dag = ServeCommandTests.fixtures.appendingPathComponent("nodes.json").path

    static func startNode(_ name: String, redis: RedisServer, log: ScratchLog) async throws -> (ChildProcess, Int) {
        try await DemoProcess.start(db: log.directory.appendingPathComponent("\(name).sqlite").path, command: "serve",
                                    arguments: ["--dag", dag, "--redis", redis.url, "--node", name])
    }

    /// The run ids `GET /api/dags` lists on `port`.
    static func runs(port: Int, loop: EventLoop) async throws -> [String] {
        let listing = try await DemoCommandTests.listing(port: port, loop: loop)
        return listing.components(separatedBy: #""dag_id":""#).dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    /// Waits (bounded: 500 × 20 ms) until `port` lists a run of node `owner`.
    static func run(of owner: String, listedOn port: Int, loop: EventLoop) async throws -> String? {
        for _ in 0..<500 {
            if let run = try await runs(port: port, loop: loop).first(where: { $0.hasPrefix(owner + "-run-") }) { return run }
            try await loop.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test func dashboardsOnEveryNodeFollowARunOnNodeAWithNoGapAndConverge() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let log = try ScratchLog()
        defer { log.remove() }
        var nodes: [(ChildProcess, Int)] = []
        for name in ["a", "b", "c"] { nodes.append(try await Self.startNode(name, redis: redis, log: log)) }
        defer { for (process, _) in nodes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let runA = try #require(try await Self.run(of: "a", listedOn: nodes[0].1, loop: loop))
        // The listing on C has A's run (and C's own, and B's).
        #expect(try await Self.run(of: "a", listedOn: nodes[2].1, loop: loop) == runA)
        #expect(try await Self.run(of: "b", listedOn: nodes[2].1, loop: loop) != nil)

        let bases = nodes.map { "ws://127.0.0.1:\($0.1)" }
        let (status, output) = try await runPythonPeer("dag_run_nodes.py", [bases[0], bases[1...].joined(separator: ","), runA, "op", "view"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("OK 7 "), "\(output)")

        // Two operators on A and C decide B's gate at once: B's engine takes one, refuses the other.
        let runB = try #require(try await Self.run(of: "b", listedOn: nodes[0].1, loop: loop))
        let (raceStatus, race) = try await runPythonPeer("dag_gate_race.py", [bases[0], bases[2], runB, "op"])
        #expect(raceStatus == 0 && race.contains("RESULTS accepted conflict"), "\(race)")

        // A's run is listed as finished on C once A announced it.
        var finished = false
        for _ in 0..<500 where !finished {
            let listing = try await DemoCommandTests.listing(port: nodes[2].1, loop: loop)
            finished = listing.contains(#"{"dag_id":"\#(runA)","finished":true,"status":"completed""#)
            if !finished { try await loop.sleep(for: .milliseconds(20)) }
        }
        #expect(finished)

        // The owner's mirror shows in its metrics (Prometheus text, scraped with the operator
        // token): every event of its runs stored in Redis, the commands it took, no drop.
        let series = ["eddy_redis_mirror_events_stored_total", "eddy_redis_mirror_commands_total",
                      "eddy_redis_mirror_events_dropped_total"]
        let (scraped, metrics) = try await runPythonPeer("metrics_scrape.py", ["totals", String(nodes[0].1), "op"] + series)
        #expect(scraped == 0, "\(metrics)")
        var values: [String: Double] = [:]
        for line in metrics.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        let stored = values["eddy_redis_mirror_events_stored_total"] ?? 0
        #expect(stored >= 7, "\(metrics)") // A's run alone logged more than the 7 the peer checked
        #expect((values["eddy_redis_mirror_commands_total"] ?? 0) >= stored, "\(metrics)")
        #expect(values["eddy_redis_mirror_events_dropped_total"] == 0, "\(metrics)")
        for (process, _) in nodes {
            process.terminate()
            #expect(await onOwnThread { process.waitUntilExit(); return process.terminationStatus } == 0)
        }
        #expect(await loop.shutdown().isClean)
    }
}
