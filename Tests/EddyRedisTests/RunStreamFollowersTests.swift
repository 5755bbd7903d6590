import EddyDAG
import EddyDAGRedis
import EddyDAGStream
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyShared
import EddyTestSupport
import Foundation
import struct Synchronization.Atomic
import Testing

/// One blocking connection and one `XREAD` over every followed run's stream, against a real
/// redis-server: many runs at once get every entry in order once; a follower added while the
/// read blocks is served without waiting for the block; a killed connection loses and repeats
/// nothing; one follower's end (cancelled, malformed entry, wrong key type) leaves the others.
@Suite("Run stream followers", .timeLimit(.minutes(3)))
struct RunStreamFollowersTests {
    struct Fixture {
        let redis: RedisServer
        let loop: EventLoop
        /// The followers' client (catch-up `XRANGE`, `CLIENT UNBLOCK`).
        let client: RedisClient
        /// The owner's side: appends, and an operator's commands (`CLIENT KILL`, `INFO`).
        let writer: RedisClient
        let log: RedisEventLog
        let followers: RunStreamFollowers

        init(block: Duration) async throws {
            redis = try await RedisServer.start()
            loop = try EventLoop()
            var configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url), connectTimeout: .seconds(10),
                                                   commandTimeout: .seconds(10))
            configuration.backoff = RedisBackoff(initial: .milliseconds(20), maximum: .milliseconds(100))
            client = RedisClient(configuration: configuration, on: loop)
            writer = RedisClient(configuration: configuration, on: loop)
            log = RedisEventLog(client: client)
            followers = RunStreamFollowers(log: log, configuration: configuration, on: loop, block: block) { _ in }
        }

        func append(_ events: [EventEnvelope]) async throws {
            try await RedisEventLog(client: writer).append(events)
        }

        /// `INFO` field `name` (e.g. `cmdstat_xread` calls, `blocked_clients`).
        func info(_ section: String, _ field: String) async throws -> Int {
            let text = try await writer.send(RedisCommand("INFO", section)).string ?? ""
            for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
                let value = line.dropFirst(field.count + 1)
                let number = value.hasPrefix("calls=") ? value.dropFirst(6).prefix { $0.isNumber } : value.prefix { $0.isNumber }
                return Int(number) ?? 0
            }
            return 0
        }

        /// The ids of connections whose last command was `XREAD` (the followers' blocking one).
        func readerIDs() async throws -> [String] {
            let list = try await writer.send(RedisCommand("CLIENT", "LIST")).string ?? ""
            return list.split(whereSeparator: \.isNewline).filter { $0.contains(" cmd=xread ") }.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) }
            }
        }

        func close() async {
            await followers.stop()
            await client.close()
            await writer.close()
            _ = await loop.shutdown()
            redis.shutDown()
        }
    }

    /// What one follower yielded.
    final class Seen: Sendable {
        let seqs = Mutex<[Int64]>([])
        let caughtUp = Atomic<Bool>(false)
        let ended = Atomic<Bool>(false)
        var isCaughtUp: Bool { caughtUp.load(ordering: .acquiring) }
        var hasEnded: Bool { ended.load(ordering: .acquiring) }
        var all: [Int64] { seqs.withLock { $0 } }
    }

    static func follow(_ followers: RunStreamFollowers, _ runID: String, into seen: Seen) -> Task<Void, any Error> {
        Task {
            defer { seen.ended.store(true, ordering: .releasing) }
            for try await update in followers.follow(runID: runID) {
                switch update {
                case .event(let encoded, let envelope):
                    #expect(encoded.seq == envelope.seq && envelope.dagID == runID)
                    seen.seqs.withLock { $0.append(encoded.seq) }
                case .caughtUp:
                    seen.caughtUp.store(true, ordering: .releasing)
                }
            }
        }
    }

    static func event(_ run: String, _ seq: Int64, last: Bool = false) -> EventEnvelope {
        EventEnvelope(dagID: run, epoch: 1, seq: seq, ts: 1000 + seq,
                      event: last ? .executionComplete(.init(status: .completed, results: []))
                                  : .executionState(.init(status: .running)))
    }

    /// Waits (bounded: 20 ms steps up to `seconds`) until `condition` holds.
    static func waitUntil(seconds: Int = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
        for _ in 0..<(seconds * 50) {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func manyRunsFollowedAtOnceGetEveryEntryInOrderExactlyOnceWithFewReads() async throws {
        let fixture = try await Fixture(block: .seconds(5))
        let runs = (0..<20).map { "r\($0)" }
        // Three entries each before following: the catch-up reads them.
        try await fixture.append(runs.flatMap { run in (1...3).map { Self.event(run, $0) } })
        let seen = runs.map { _ in Seen() }
        let tasks = zip(runs, seen).map { Self.follow(fixture.followers, $0, into: $1) }
        #expect(await Self.waitUntil { seen.allSatisfy(\.isCaughtUp) })
        let before = try await fixture.info("commandstats", "cmdstat_xread")
        // Ten bursts, each one pipeline with one entry for every run; the last ends them.
        for round in Int64(4)...13 {
            try await fixture.append(runs.map { Self.event($0, round, last: round == 13) })
            try await Task.sleep(for: .milliseconds(10))
        }
        for task in tasks { try await task.value }
        let reads = try await fixture.info("commandstats", "cmdstat_xread") - before
        for (run, seen) in zip(runs, seen) {
            #expect(seen.all == Array(1...13), "\(run)")
        }
        // 200 live entries over 20 runs: about two reads per burst (Redis may answer the read
        // between two XADDs of one pipeline; 19 reads when written), far fewer than one per entry.
        #expect(reads > 0 && reads < 100, "XREADs: \(reads)")
        // Every follower finished: the reader closed its blocking connection.
        #expect(try await Self.waitUntil { try await fixture.readerIDs().isEmpty && fixture.followers.followerCount == 0 })
        await fixture.close()
    }

    @Test func aFollowerAddedWhileTheReadBlocksGetsItsLiveEntriesWithoutWaitingForTheBlock() async throws {
        // The read blocks 30 s; the test gives the new follower 10.
        let fixture = try await Fixture(block: .seconds(30))
        let first = Seen()
        let following = Self.follow(fixture.followers, "a", into: first)
        #expect(await Self.waitUntil { first.isCaughtUp })
        #expect(try await Self.waitUntil { try await fixture.info("clients", "blocked_clients") == 1 })

        try await fixture.append([Self.event("b", 1), Self.event("b", 2)])
        let second = Seen()
        let started = ContinuousClock.now
        let joining = Self.follow(fixture.followers, "b", into: second)
        #expect(await Self.waitUntil { second.isCaughtUp })
        try await fixture.append([Self.event("b", 3), Self.event("b", 4, last: true)])
        #expect(await Self.waitUntil(seconds: 10) { second.hasEnded })
        #expect(ContinuousClock.now - started < .seconds(10))
        try await joining.value
        #expect(second.all == [1, 2, 3, 4])

        // The first follower was carried along in the reads since.
        try await fixture.append([Self.event("a", 1), Self.event("a", 2, last: true)])
        try await following.value
        #expect(first.all == [1, 2])
        await fixture.close()
    }

    @Test func aBlockingConnectionKilledMidStreamLosesAndRepeatsNothing() async throws {
        let fixture = try await Fixture(block: .seconds(2))
        let runs = (0..<5).map { "k\($0)" }
        let seen = runs.map { _ in Seen() }
        let tasks = zip(runs, seen).map { Self.follow(fixture.followers, $0, into: $1) }
        #expect(await Self.waitUntil { seen.allSatisfy(\.isCaughtUp) })
        var kills = 0
        let last: Int64 = 120
        for seq in Int64(1)...last {
            try await fixture.append(runs.map { Self.event($0, seq, last: seq == last) })
            if seq % 30 == 0 {
                // Kill whatever blocking connection the followers read on now.
                for id in try await fixture.readerIDs() {
                    if (try? await fixture.writer.send(RedisCommand("CLIENT", "KILL", "ID", id)))?.integer == 1 { kills += 1 }
                }
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        for task in tasks { try await task.value }
        #expect(kills >= 2)
        for (run, seen) in zip(runs, seen) {
            #expect(seen.all == Array(1...last), "\(run)")
        }
        await fixture.close()
    }

    @Test func cancellingOneFollowerOrABadStreamEndsOnlyThatOne() async throws {
        let fixture = try await Fixture(block: .seconds(5))
        let runs = ["c0", "c1", "c2", "bad", "string"]
        let seen = runs.map { _ in Seen() }
        let tasks = zip(runs, seen).map { Self.follow(fixture.followers, $0, into: $1) }
        #expect(await Self.waitUntil { seen.allSatisfy(\.isCaughtUp) })
        try await fixture.append(runs.map { Self.event($0, 1) })
        #expect(await Self.waitUntil { seen.allSatisfy { $0.all == [1] } })

        // c1's consumer goes away; "bad" gets an entry that does not decode; "string" is
        // replaced by a key of another type.
        tasks[1].cancel()
        _ = try await fixture.writer.send(RedisCommand("XADD", fixture.log.streamKey(runID: "bad"), "2-1", "e", "not json"))
        _ = try await fixture.writer.send(RedisCommand("DEL", fixture.log.streamKey(runID: "string")))
        _ = try await fixture.writer.send(RedisCommand("SET", fixture.log.streamKey(runID: "string"), "x"))
        await #expect(throws: (any Error).self) { try await tasks[3].value }
        #expect(seen[3].all == [1])
        // c1 and "bad" are gone ("string" too, if a read already met it).
        #expect(await Self.waitUntil { seen[1].hasEnded && fixture.followers.followerCount <= 3 })

        for seq in Int64(2)...5 {
            try await fixture.append(["c0", "c1", "c2"].map { Self.event($0, seq, last: seq == 5) })
        }
        try await tasks[0].value
        try await tasks[2].value
        #expect(seen[0].all == Array(1...5))
        #expect(seen[2].all == Array(1...5))
        #expect(seen[1].all.count < 5)
        _ = try? await tasks[1].value
        // The wrong-type key made a read fail; its follower was ended with the error.
        await #expect(throws: (any Error).self) { try await tasks[4].value }
        #expect(await Self.waitUntil { fixture.followers.followerCount == 0 })
        #expect(try await Self.waitUntil { try await fixture.readerIDs().isEmpty })
        await fixture.close()
    }
}
