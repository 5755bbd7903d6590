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
    @Test func aRunGoesOnAcrossARedisRestartAndEveryDashboardGetsEveryEventOnce() async throws {
        let redis = try await RedisServer.start(["--appendonly", "yes"])
        defer { redis.shutDown() }
        let log = try ScratchLog()
        defer { log.remove() }
        var nodes: [(ChildProcess, Int)] = []
        for name in ["a", "b"] { nodes.append(try await FailoverCommandTests.startNode(name, redis: redis, log: log)) }
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
        try await redis.restart()
        let (status, output) = try await peer
        #expect(status == 0, "\(output)")
        #expect(output.contains("OK "), "\(output)")

        for (process, _) in nodes {
            process.terminate()
            #expect(await onOwnThread { process.waitUntilExit(); return process.terminationStatus } == 0)
        }
        #expect(await loop.shutdown().isClean)
    }
}
