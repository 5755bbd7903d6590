import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// Redis restarted mid-run, with AOF on (issue 17): a run of node A watched from A and B, its
/// gate approved, and `redis-server` restarted while the nodes after the gate run. A's run
/// waits for Redis (its log of record) and goes on; B's dashboards resume reading the stream;
/// every dashboard gets every event once, and B's (read from Redis) get A's whole log, the
/// same events (the checks are in `Tests/Peers/dag_redis_restart.py`).
@Suite("eddy runs across a Redis restart", .timeLimit(.minutes(3)))
struct RedisRestartCommandTests {
    /// The failover DAG with longer nodes after the gate (4 × 1.2 s): Redis must go down while
    /// they run, and under a loaded test run the restart can come a second or more after the
    /// approval (with 4 × 0.4 s the run once ended first, and nothing was unavailable).
    static let dag = ServeCommandTests.fixtures.appendingPathComponent("redis-restart.json").path

    static func startNode(_ name: String, redis: RedisServer, log: ScratchLog, _ extra: [String]) async throws -> (ChildProcess, Int) {
        try await DemoProcess.start(db: log.directory.appendingPathComponent("\(name).sqlite").path, command: "serve",
                                    arguments: ["--dag", dag, "--redis", redis.url, "--node", name] + extra)
    }

    /// A restart shorter than the leases' time to live (5 s).
    @Test func aRunGoesOnAcrossARedisRestartAndEveryDashboardGetsEveryEventOnce() async throws {
        let events = try await restartRedisMidRun(downFor: .zero, nodeArguments: [])
        #expect(!events.contains(#""code":"adopted""#), "no takeover: \(events)")
    }

    /// Redis down for 3 s, longer than the leases' time to live (2 s) and the append deadline:
    /// A's run logs `log_unavailable`, waits, and goes on under A, which takes its expired lease
    /// again (the stream did not move without it); B, which could take the run over, leaves it
    /// to its owner.
    @Test func aRunWaitsOutAnOutageLongerThanItsLeaseAndGoesOnUnderItsOwner() async throws {
        let events = try await restartRedisMidRun(downFor: .seconds(3),
                                                  nodeArguments: ["--lease-ttl", "2", "--append-deadline", "0.5"])
        #expect(events.contains(#""code":"log_unavailable""#), "\(events)")
        #expect(!events.contains(#""code":"adopted""#) && !events.contains(#""code":"relinquished""#), "\(events)")
    }

    /// Two nodes, a run of A watched from A and B; after the gate's approval Redis restarts
    /// (down for `downFor`); returns A's log of the run (`GET /api/dags/<run>/events`).
    func restartRedisMidRun(downFor: Duration, nodeArguments: [String]) async throws -> String {
        let redis = try await RedisServer.start(["--appendonly", "yes"])
        defer { redis.shutDown() }
        let log = try ScratchLog()
        defer { log.remove() }
        var nodes: [(ChildProcess, Int)] = []
        for name in ["a", "b"] { nodes.append(try await Self.startNode(name, redis: redis, log: log, nodeArguments)) }
        defer { for (process, _) in nodes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let runA = try #require(try await RunsAcrossNodesCommandTests.run(of: "a", listedOn: nodes[0].1, loop: loop))
        #expect(try await RunsAcrossNodesCommandTests.run(of: "a", listedOn: nodes[1].1, loop: loop) == runA)

        let marker = log.directory.appendingPathComponent("approved").path
        let arguments = ["ws://127.0.0.1:\(nodes[0].1)", "ws://127.0.0.1:\(nodes[1].1)", runA, "op", "view", marker]
        async let peer = runPythonPeer("dag_redis_restart.py", arguments)
        // Once the gate is approved (bounded: 3,000 × 10 ms), restart Redis while `post0…3` run.
        for _ in 0..<3_000 where !FileManager.default.fileExists(atPath: marker) { try await loop.sleep(for: .milliseconds(10)) }
        #expect(FileManager.default.fileExists(atPath: marker))
        // Mid-run: the run has not ended yet when Redis goes down.
        let before = try await DemoCommandTests.listing(port: nodes[0].1, loop: loop)
        #expect(before.contains(#"{"dag_id":"\#(runA)","finished":false"#), "\(before)")
        try await redis.restart(downFor: downFor)
        let (status, output) = try await peer
        #expect(status == 0, "\(output)")
        #expect(output.contains("OK "), "\(output)")
        let events = try await httpGet("/api/dags/\(runA)/events?token=view", port: nodes[0].1, loop: loop)

        for (process, _) in nodes {
            process.terminate()
            #expect(await onOwnThread { process.waitUntilExit(); return process.terminationStatus } == 0)
        }
        #expect(await loop.shutdown().isClean)
        return events
    }
}
