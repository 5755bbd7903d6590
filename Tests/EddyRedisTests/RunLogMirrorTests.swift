import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyTestSupport
import Foundation
import MetricsTestKit
import Testing

/// The owner's mirror of its runs in Redis (runs across nodes), against a real redis-server:
/// the stream holds exactly the SQLite log's bytes, the run is announced in the registry, and
/// an outage that overflows the queue is repaired from SQLite.
@Suite("Redis run log mirror", .timeLimit(.minutes(1)))
struct RunLogMirrorTests {
    /// An engine on a scratch SQLite log and a mirror of it with `queueLimit`.
    struct Fixture {
        let directory: URL
        let engine: DAGEngine
        let loop: EventLoop
        let client: RedisClient
        let mirror: RunLogMirror

        init(redis: RedisServer, queueLimit: Int, metrics: TestMetrics? = nil) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-mirror-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            engine = try DAGEngine(configuration: .init(
                eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
            loop = try EventLoop()
            var configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url))
            configuration.backoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
            client = RedisClient(configuration: configuration, on: loop)
            mirror = RunLogMirror(engine: engine, node: "a", log: RedisEventLog(client: client), queueLimit: queueLimit,
                                  metricsFactory: metrics) { _ in }
            try mirror.start()
        }

        /// A run of `count` chained tasks, to its end.
        func run(_ runID: String, tasks count: Int) async throws {
            var builder = DAGBuilder()
            for index in 0..<count {
                builder.task("t\(index)", after: index == 0 ? [] : ["t\(index - 1)"]) { _ in .string("out \(index)") }
            }
            _ = try await engine.start(try builder.build(), runID: runID)
            #expect(await engine.waitForCompletion(runID: runID) == .completed)
            await engine.log.flush()
        }

        /// Waits (bounded: 1,000 × 20 ms) until the registry says the run finished.
        func waitUntilAnnouncedFinished(_ runID: String) async throws -> RunRegistryRecord? {
            for _ in 0..<1000 {
                if let bytes = try? await client.send(RedisCommand("HGET", RunRegistry().runsKey, runID)).bytes,
                   let record = RunRegistryRecord(decoding: bytes), record.summary?.finished == true {
                    return record
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }

        func sameBytes(_ runID: String) async throws -> Bool {
            let fromRedis = try await RedisEventLog(client: client).encodedEvents(runID: runID, after: 0).map(\.bytes)
            let fromSQLite = try engine.log.encodedEvents(runID: runID, after: 0, upTo: .max).map(\.bytes)
            return !fromSQLite.isEmpty && fromRedis == fromSQLite
        }

        func close() async {
            await mirror.stop()
            await client.close()
            await engine.shutdown()
            _ = await loop.shutdown()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test func theStreamHoldsTheSQLiteLogsBytesAndTheRunIsAnnouncedOnceItIsThere() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let fixture = try Fixture(redis: redis, queueLimit: 10_000)
        try await fixture.run("mirrored", tasks: 10)
        let record = try #require(try await fixture.waitUntilAnnouncedFinished("mirrored"))
        #expect(record.node == "a")
        #expect(try await fixture.sameBytes("mirrored"))
        let logged = try fixture.engine.log.encodedEvents(runID: "mirrored", after: 0, upTo: .max).count
        #expect(record.summary?.lastSeq == Int64(logged))
        // One XADD per logged event, plus HSET and PUBLISH when the run starts and when it ends
        // (more only if a pipeline failed and was sent again: a loaded machine's timeout).
        let counters = fixture.mirror.counters
        #expect(counters.eventsStored == logged)
        #expect(counters.commandsSent == logged + 4 || counters.failedAttempts > 0, "\(counters)")
        #expect(counters.eventsDropped == 0 && counters.eventsFromSQLite == 0)
        await fixture.close()
    }

    @Test func eventsDroppedWhileRedisIsDownAreCopiedFromSQLiteWhenItIsBack() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let metrics = TestMetrics()
        let fixture = try Fixture(redis: redis, queueLimit: 3, metrics: metrics)
        redis.stop()
        // A first run's events put the writer into its retries (it holds them and takes
        // nothing more until Redis answers): every later event can only queue, or drop.
        try await fixture.run("first", tasks: 1)
        let failed = try metrics.expectCounter("eddy_redis_mirror_failed_attempts_total")
        for _ in 0..<1_000 where failed.totalValue == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(failed.totalValue > 0)
        try await fixture.run("outage", tasks: 10)
        // The queue holds 3 events: the rest of the outage run's were dropped.
        #expect(fixture.mirror.counters.eventsDropped > 0)
        // What an operator sees meanwhile: the queue full, the drops counted.
        let queued = try metrics.expectMeter("eddy_redis_mirror_queued_events")
        #expect(queued.lastValue == 3)
        let dropped = try metrics.expectCounter("eddy_redis_mirror_events_dropped_total")
        #expect(dropped.totalValue == Int64(fixture.mirror.counters.eventsDropped))
        try await redis.restart()
        for run in ["first", "outage"] {
            let record = try #require(try await fixture.waitUntilAnnouncedFinished(run))
            #expect(record.summary?.finished == true)
            #expect(try await fixture.sameBytes(run))
        }
        #expect(fixture.mirror.counters.eventsFromSQLite > 0)
        // Once Redis is back: every event stored, those dropped copied from SQLite, the queue empty.
        #expect(try metrics.expectCounter("eddy_redis_mirror_events_stored_total").totalValue == Int64(fixture.mirror.counters.eventsStored))
        #expect(try metrics.expectCounter("eddy_redis_mirror_events_from_sqlite_total").totalValue == Int64(fixture.mirror.counters.eventsFromSQLite))
        #expect(queued.lastValue == 0)
        await fixture.close()
    }
}
