import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyTestSupport
import Foundation
import Testing

/// The Redis Streams event log against a real redis-server, and against the SQLite log it
/// must agree with.
@Suite("Redis Streams event log", .timeLimit(.minutes(3)))
struct RedisEventLogTests {
    static func event(_ run: String, _ seq: Int64) -> EventEnvelope {
        EventEnvelope(dagID: run, epoch: 1, seq: seq, ts: 1000 + seq,
                      event: seq % 2 == 0 ? .executionState(.init(status: .running)) : .error(.init(code: "c\(seq)", message: "m \(seq)")))
    }

    @Test func replaysSinceAnySeqInOrderAcrossPages() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: RedisConfiguration(endpoint: try RedisEndpoint(url: server.url), connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop)
        let log = RedisEventLog(client: client, pageSize: 7)
        let first = (1...40).map { Self.event("r1", $0) }
        let second = (41...100).map { Self.event("r1", $0) }
        #expect(try await log.append(first + [Self.event("r2", 1)]) == 41)
        #expect(try await log.append(second) == 60)
        #expect(try await log.lastSeq(runID: "r1") == 100)
        #expect(try await log.lastSeq(runID: "none") == 0)

        let all = try await log.events(runID: "r1", after: 0)
        let allMatch = all == first + second
        #expect(allMatch)
        let since = try await log.events(runID: "r1", after: 40)
        let sinceMatch = since == second
        #expect(sinceMatch)
        let window = try await log.encodedEvents(runID: "r1", after: 10, upTo: 12)
        #expect(window.map(\.seq) == [11, 12] && window.map(\.bytes) == [11, 12].map { EncodedEvent(Self.event("r1", $0)).bytes })
        #expect(try await log.events(runID: "r1", after: 100).isEmpty)
        #expect(try await log.events(runID: "r2", after: 0) == [Self.event("r2", 1)])
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func appendingAgainStoresNothingTwiceAndSeqMustRise() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: RedisConfiguration(endpoint: try RedisEndpoint(url: server.url), connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop)
        let log = RedisEventLog(client: client)
        let events = (1...10).map { Self.event("r", $0) }
        #expect(try await log.append(events) == 10)
        // A retry after a lost reply: the same events again, and one new.
        #expect(try await log.append(Array(events[5...]) + [Self.event("r", 11)]) == 1)
        #expect(try await log.events(runID: "r", after: 0).map(\.seq) == Array(1...11))
        await #expect(throws: RedisError.self) { try await log.append([Self.event("r", 13), Self.event("r", 12)]) }
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func agreesWithTheSQLiteLogThroughTheSameProtocol() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-redis-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A real run's log, written by the engine to SQLite…
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
        var builder = DAGBuilder()
        builder.task("a") { _ in "a" }
        builder.task("b", after: ["a"]) { _ in "b" }
        let runID = try await engine.start(try builder.build(), runID: "flow")
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        await engine.log.flush()
        let sqlite: any RunEventLog = engine.log
        let logged = try await sqlite.events(runID: runID, after: 0, upTo: .max)
        #expect(logged.count > 3)
        // …copied to Redis, reads back the same through the protocol.
        let loop = try EventLoop()
        let client = RedisClient(configuration: RedisConfiguration(endpoint: try RedisEndpoint(url: server.url), connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop)
        let redis: any RunEventLog = RedisEventLog(client: client)
        try await (redis as? RedisEventLog)?.append(logged)
        for after in [Int64(0), 1, Int64(logged.count / 2)] {
            let fromRedis = try await redis.encodedEvents(runID: runID, after: after, upTo: .max).map(\.bytes)
            let fromSQLite = try await sqlite.encodedEvents(runID: runID, after: after, upTo: .max).map(\.bytes)
            let same = fromRedis == fromSQLite
            #expect(same, "since \(after)")
        }
        await client.close()
        await engine.shutdown()
        #expect(await loop.shutdown().isClean)
    }
}
