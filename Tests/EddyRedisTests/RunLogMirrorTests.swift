import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyTestSupport
import EddyShared
import Foundation
import MetricsTestKit
import Testing

/// The owner's mirror of its runs in Redis (runs across nodes), against a real redis-server:
/// the stream holds exactly the SQLite log's bytes, the run is announced in the registry, and
/// an outage that overflows the queue is repaired from SQLite.
@Suite("Redis run log mirror", .timeLimit(.minutes(3)))
struct RunLogMirrorTests {
    /// An engine on a scratch SQLite log and a mirror of it with `queueLimit`.
    struct Fixture {
        let directory: URL
        let engine: DAGEngine
        let loop: EventLoop
        let client: RedisClient
        let mirror: RunLogMirror

        init(redis: RedisServer, queueLimit: Int, metrics: TestMetrics? = nil,
             policy: ReplicationPolicy = ReplicationPolicy()) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-mirror-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            engine = try DAGEngine(configuration: .init(
                eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
            loop = try EventLoop()
            var configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url))
            configuration.backoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
            client = RedisClient(configuration: configuration, on: loop)
            mirror = RunLogMirror(engine: engine, node: "a", log: RedisEventLog(client: client), queueLimit: queueLimit,
                                  policy: policy, metricsFactory: metrics) { _ in }
            try mirror.start()
        }

        /// A run of `count` chained tasks, to its end.
        func run(_ runID: String, tasks count: Int) async throws {
            try await start(runID, tasks: count)
            try await finish(runID)
        }

        /// Starts a run of `count` chained tasks; `ran` counts the bodies that ran.
        func start(_ runID: String, tasks count: Int, ran: BodyCount = BodyCount()) async throws {
            var builder = DAGBuilder()
            for index in 0..<count {
                builder.task("t\(index)", after: index == 0 ? [] : ["t\(index - 1)"]) { _ in
                    ran.add()
                    return .string("out \(index)")
                }
            }
            _ = try await engine.start(try builder.build(), runID: runID)
        }

        /// Waits for the run's end (with Redis storing: the end is published once stored).
        func finish(_ runID: String) async throws {
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
        try await fixture.start("first", tasks: 1)
        let failed = try metrics.expectCounter("eddy_redis_mirror_failed_attempts_total")
        for _ in 0..<1_000 where failed.totalValue == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(failed.totalValue > 0)
        // The runs wait for Redis, but the events they logged before their first task (more
        // than the queue's 3) are queued or dropped.
        try await fixture.start("outage", tasks: 10)
        // What an operator sees meanwhile: the queue full, the drops counted (the gauge is set
        // just after the queue's lock is released: wait for both, bounded).
        let queued = try metrics.expectMeter("eddy_redis_mirror_queued_events")
        for _ in 0..<1_000 where fixture.mirror.counters.eventsDropped == 0 || queued.lastValue != 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(fixture.mirror.counters.eventsDropped > 0)
        #expect(queued.lastValue == 3, "\(queued.values)")
        let dropped = try metrics.expectCounter("eddy_redis_mirror_events_dropped_total")
        #expect(dropped.totalValue == Int64(fixture.mirror.counters.eventsDropped))
        try await redis.restart()
        for run in ["first", "outage"] {
            try await fixture.finish(run)
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

    /// Redis is the runs' log of record: while it cannot store, a run neither shows nor acts
    /// on what it logged (its first task does not start, its subscribers see nothing), it logs
    /// `log_unavailable` once past the deadline, and once Redis is back it goes on to its end,
    /// with every event in Redis and every subscriber's stream continuous.
    @Test func aRunWaitsForRedisAndShowsNothingRedisDoesNotHold() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let fixture = try Fixture(redis: redis, queueLimit: 10_000,
                                  policy: ReplicationPolicy(appendDeadline: .milliseconds(300)))
        redis.stop()
        let ran = BodyCount()
        try await fixture.start("waits", tasks: 3, ran: ran)
        let subscription = try fixture.engine.subscribe(runID: "waits", since: 0)
        let seen = Task {
            var seqs: [Int64] = []
            var codes: [String] = []
            for await envelope in subscription {
                seqs.append(envelope.seq)
                if case .error(let error) = envelope.event { codes.append(error.code) }
            }
            return (seqs, codes)
        }
        // Past the deadline, the error is in SQLite (bounded: 500 × 20 ms).
        var logged: [EventEnvelope] = []
        for _ in 0..<500 {
            await fixture.engine.log.flush()
            logged = try fixture.engine.log.events(runID: "waits", after: 0)
            if logged.contains(where: { if case .error(let error) = $0.event { error.code == "log_unavailable" } else { false } }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(logged.contains { if case .error(let error) = $0.event { error.code == "log_unavailable" } else { false } })
        // Logged here, but not shown and not acted on: no body ran, nothing published.
        #expect(ran.value == 0)
        #expect(try fixture.engine.state(runID: "waits").seq == 0)

        try await redis.restart()
        try await fixture.finish("waits")
        #expect(ran.value == 3)
        #expect(try await fixture.sameBytes("waits"))
        let (seqs, codes) = await seen.value
        let total = try fixture.engine.log.encodedEvents(runID: "waits", after: 0, upTo: .max).count
        #expect(seqs == Array(1...Int64(total)))
        // Once per wait past the deadline (a loaded machine may make a second wait that long).
        #expect(!codes.isEmpty && codes.allSatisfy { $0 == "log_unavailable" }, "\(codes)")
        await fixture.close()
    }
}

/// Counts task bodies that ran (from any thread).
final class BodyCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
