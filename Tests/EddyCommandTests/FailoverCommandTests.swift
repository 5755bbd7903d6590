import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// Failover of a run across `eddy serve` processes through a real `redis-server` (issue 17):
/// a run on node A, watched from B and C; A is SIGKILLed mid-run (after C approved its gate) or
/// while its gate waits;
/// B or C takes the run over from its Redis stream (A's lease expired) and every dashboard
/// converges on one continuous stream (the checks are in `Tests/Peers/dag_failover.py`), in
/// which every event A's own dashboard was shown before it died is the adopter's too; A,
/// restarted, serves the run from the adopter's log, not its interrupted copy.
@Suite("eddy run failover (Redis)", .timeLimit(.minutes(4)))
struct FailoverCommandTests {
    static let dag = ServeCommandTests.fixtures.appendingPathComponent("failover.json").path

    static func startNode(_ name: String, redis: RedisServer, log: ScratchLog) async throws -> (ChildProcess, Int) {
        try await DemoProcess.start(db: log.directory.appendingPathComponent("\(name).sqlite").path, command: "serve",
                                    arguments: ["--dag", dag, "--redis", redis.url, "--node", name, "--lease-ttl", "3"])
    }

    /// A run on A (its gate decided from C before A dies, or left waiting), watched from B and C;
    /// A SIGKILLed; the peer checks the takeover and the convergence.
    func killTheOwner(mode: String) async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let log = try ScratchLog()
        defer { log.remove() }
        var nodes: [(ChildProcess, Int)] = []
        for name in ["a", "b", "c"] { nodes.append(try await Self.startNode(name, redis: redis, log: log)) }
        defer { for (process, _) in nodes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let runA = try #require(try await RunsAcrossNodesCommandTests.run(of: "a", listedOn: nodes[0].1, loop: loop))
        #expect(try await RunsAcrossNodesCommandTests.run(of: "a", listedOn: nodes[1].1, loop: loop) == runA)
        #expect(try await RunsAcrossNodesCommandTests.run(of: "a", listedOn: nodes[2].1, loop: loop) == runA)

        let bases = nodes.map { "ws://127.0.0.1:\($0.1)" }
        let (status, output) = try await runPythonPeer(
            "dag_failover.py", [bases[0], bases[1], bases[2], String(nodes[0].0.processIdentifier), runA, "op", "view", mode])
        #expect(status == 0, "\(output)")
        #expect(output.contains("OK b ") || output.contains("OK c "), "\(output)")
        let owner = nodes[0].0
        #expect(await onOwnThread { owner.waitUntilExit(); return owner.terminationStatus } == SIGKILL, "A was SIGKILLed")

        // The adopter counts the takeover in its metrics; the other node does not.
        let adopter = output.contains("OK b ") ? 1 : 2
        for index in [1, 2] {
            let (scraped, metrics) = try await runPythonPeer("metrics_scrape.py", ["totals", String(nodes[index].1), "op", "eddy_redis_takeovers_total"])
            #expect(scraped == 0, "\(metrics)")
            let expected = index == adopter ? "eddy_redis_takeovers_total 1.0" : "eddy_redis_takeovers_total 0"
            #expect(metrics.contains(expected), "node \(index): \(metrics)")
        }

        // A restarted on its own SQLite (where the run ended `interrupted`) serves the run as the
        // adopter goes on with it: listed and streamed from the adopter's log.
        let restarted = try await Self.startNode("a", redis: redis, log: log)
        nodes.append(restarted)
        var listed: [String: Any]?
        var listing = ""
        for _ in 0..<250 {
            listing = try await DemoCommandTests.listing(port: restarted.1, loop: loop)
            let body = listing.range(of: "\r\n\r\n").map { String(listing[$0.upperBound...]) } ?? listing
            let runs = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["runs"] as? [[String: Any]]
            listed = runs?.first { $0["dag_id"] as? String == runA }
            if listed?["status"] as? String == "completed" { break }
            try await loop.sleep(for: .milliseconds(20))
        }
        #expect(listed?["status"] as? String == "completed", "A's listing after its restart: \(listing)")
        let (snapshotStatus, snapshot) = try await runPythonPeer("dag_snapshot.py", ["ws://127.0.0.1:\(restarted.1)", runA, "view"])
        #expect(snapshotStatus == 0 && snapshot.contains("STATUS completed"), "\(snapshot)")

        for (process, _) in nodes.dropFirst() {
            process.terminate()
            #expect(await onOwnThread { process.waitUntilExit(); return process.terminationStatus } == 0)
        }
        #expect(await loop.shutdown().isClean)
    }

    /// The gate approved from C (forwarded to A), A killed while `post1` runs: `post1` is retried.
    @Test func aRunWhoseOwnerIsKilledIsTakenOverAndEveryDashboardConverges() async throws {
        try await killTheOwner(mode: "mid-run")
    }

    /// A killed while the gate waits: the gate waits again on the new owner, which takes C's approval.
    @Test func aGateWaitingWhenItsOwnerIsKilledWaitsAgainAndIsDecidedOnTheNewOwner() async throws {
        try await killTheOwner(mode: "at-gate")
    }
}
