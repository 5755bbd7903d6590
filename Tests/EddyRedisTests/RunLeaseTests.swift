import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyShared
import EddyTestSupport
import Foundation
import Testing

/// Run leases (failover) against a real redis-server: one winner among contenders, renewal
/// and release only by the holder, expiry, the mirror taking a lease per run and giving it
/// back at the end, and a fenced owner's appends refused by the stream.
@Suite("Redis run leases", .timeLimit(.minutes(3)))
struct RunLeaseTests {
    /// Generous deadlines: the machine running the suite is loaded (correctness is checked, not timings).
    static func configuration(_ redis: RedisServer) throws -> RedisConfiguration {
        RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url), connectTimeout: .seconds(30), commandTimeout: .seconds(30))
    }

    /// Polls `condition` every 20 ms until it holds; false after `seconds` (a bound, not a timing check).
    func eventually(seconds: Int = 120, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func ofTwoContendersExactlyOneWinsAndOnlyTheHolderRenewsOrReleases() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        for round in 0..<20 {
            let runID = "run-\(round)"
            let a = RunLease(node: "a", ttl: .seconds(30), client: client)
            let b = RunLease(node: "b", ttl: .seconds(30), client: client)
            async let aWon = a.acquire(runID: runID)
            async let bWon = b.acquire(runID: runID)
            let (wonA, wonB) = try await (aWon, bWon)
            #expect(wonA != wonB, "exactly one of two contenders wins")
            let (winner, loser) = wonA ? (a, b) : (b, a)
            #expect(try await winner.holder(runID: runID) == winner.node)
            #expect(try await loser.renew(runID: runID) == false)
            #expect(try await loser.release(runID: runID) == false)
            #expect(try await winner.holder(runID: runID) == winner.node, "the loser's release deleted nothing")
            #expect(try await winner.renew(runID: runID))
            #expect(try await winner.release(runID: runID))
            #expect(try await winner.holder(runID: runID) == nil)
            #expect(try await loser.acquire(runID: runID), "a released lease can be taken")
        }
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func anExpiredLeaseGoesToAnotherNodeAndItsFormerHolderCannotRenewIt() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let a = RunLease(node: "a", ttl: .seconds(30), client: client)
        let b = RunLease(node: "b", ttl: .seconds(30), client: client)
        #expect(try await a.acquire(runID: "r"))
        #expect(try await b.acquire(runID: "r") == false)
        // A's last renewal gives it 200 ms to live; then nobody renews it.
        #expect(try await RunLease(node: "a", ttl: .milliseconds(200), client: client).renew(runID: "r"))
        #expect(try await eventually { try await b.acquire(runID: "r") }, "a lease nobody renews expires")
        #expect(try await a.renew(runID: "r") == false, "the former holder cannot renew another node's lease")
        #expect(try await b.holder(runID: "r") == "b")

        // The keeper renews what it holds, and reports the lease lost once a renewal finds it is
        // not its own any more. (Passes driven by hand: the timing of its task is not checked.)
        let lost = LostRuns()
        let keeper = RunLeaseKeeper(lease: RunLease(node: "c", ttl: .seconds(30), client: client), report: { _ in }) {
            lost.add($0)
        }
        let key = keeper.lease.key(runID: "kept")
        #expect(try await keeper.lease.acquire(runID: "kept"))
        keeper.hold("kept")
        _ = try await client.send(RedisCommand("PEXPIRE", key, "5000"))
        await keeper.renewAll()
        #expect(try await client.send(RedisCommand("PTTL", key)).integer ?? 0 > 5000, "renewed to the lease's 30 s")
        #expect(try await keeper.lease.holder(runID: "kept") == "c")
        #expect(lost.runs.isEmpty)
        _ = try await client.send(RedisCommand("SET", key, "d"))
        await keeper.renewAll()
        #expect(lost.runs == ["kept"])
        #expect(keeper.runs.isEmpty)
        #expect(try await keeper.lease.holder(runID: "kept") == "d", "another node's lease is left alone")
        await keeper.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    /// An owner cut off from Redis longer than its leases live keeps the runs nobody took over
    /// meanwhile (their streams end where it stored last) and loses the others.
    @Test func aKeeperCutOffFromRedisTakesItsLeaseAgainUnlessTheStreamMovedOn() async throws {
        let redis = try await RedisServer.start(["--appendonly", "yes"])
        defer { redis.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let log = RedisEventLog(client: client)
        let lost = LostRuns()
        let keeper = RunLeaseKeeper(lease: RunLease(node: "c", ttl: .seconds(1), client: client),
                                    resuming: { runID in (log.streamKey(runID: runID), 2) }, report: { _ in }) { lost.add($0) }
        for runID in ["kept", "moved"] {
            for seq in 1...2 { _ = try await client.send(RedisCommand("XADD", log.streamKey(runID: runID), "\(seq)-1", "e", "{}")) }
            #expect(try await keeper.lease.acquire(runID: runID))
            keeper.hold(runID)
        }
        // Another node appended to `moved` (as an adopter's first event would).
        _ = try await client.send(RedisCommand("XADD", log.streamKey(runID: "moved"), "3-1", "e", "{}"))

        redis.stop()
        try await Task.sleep(for: .milliseconds(1_200))
        await keeper.renewAll() // fails: no renewal for longer than the ttl
        #expect(lost.runs.isEmpty, "an outage alone does not lose a run")
        #expect(Set(keeper.runs) == ["kept", "moved"])
        try await redis.restart() // the leases expired meanwhile: gone from the AOF

        #expect(try await eventually {
            await keeper.renewAll()
            return lost.runs == ["moved"]
        })
        // Taken again: its stream ends where this node left it. (Renewed until seen: with a
        // 1 s ttl, a loaded machine can let the lease lapse between a renewal and the read.)
        #expect(try await eventually {
            await keeper.renewAll()
            return try await keeper.lease.holder(runID: "kept") == "c"
        })
        #expect(try await keeper.lease.holder(runID: "moved") == nil, "not taken: another node wrote to its stream")
        #expect(keeper.runs == ["kept"])
        await keeper.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func theMirrorHoldsEachRunsLeaseWhileItRunsAndAFencedOwnersAppendIsRefused() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-lease-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let mirror = RunLogMirror(engine: engine, node: "a", log: RedisEventLog(client: client), leaseTTL: .seconds(30)) { _ in }
        try mirror.start()
        let lease = RunLease(node: "b", ttl: .seconds(30), client: client)
        var builder = DAGBuilder()
        builder.task("first") { _ in "one" }
        builder.gate("review", after: ["first"], presentation: ["title": "Go?"])
        builder.task("last", after: ["review"]) { _ in "two" }
        _ = try await engine.start(try builder.build(), runID: "leased")
        #expect(try await eventually { try await lease.holder(runID: "leased") == "a" }, "the owner holds the lease")
        #expect(try await lease.acquire(runID: "leased") == false)

        // Another node appends the next seq first (as a new owner would): the old owner's
        // append of the same seq stores nothing.
        let log = RedisEventLog(client: client)
        // The run rests at its gate once the stream has the gate waiting: nothing more is appended meanwhile.
        #expect(try await eventually {
            try await log.events(runID: "leased", after: 0).contains { $0.event.typeName == "human_gate_waiting" }
        })
        let top = try await log.lastSeq(runID: "leased")
        let theirs = EventEnvelope(dagID: "leased", epoch: 1, seq: top + 1, ts: 0,
                                   event: .error(ServerEvent.ErrorEvent(code: "adopted", message: "by b")))
        #expect(try await log.append([theirs]) == 1)
        let ours = EventEnvelope(dagID: "leased", epoch: engine.epoch, seq: top + 1, ts: 0,
                                 event: .error(ServerEvent.ErrorEvent(code: "late", message: "from a")))
        #expect(try await log.append([ours]) == 0)
        _ = try await client.send(RedisCommand("DEL", log.streamKey(runID: "leased")))

        _ = await engine.submit(ClientCommand(commandID: "c1", action: .humanDecision(.init(nodeID: "review", decision: .approve))),
                                runID: "leased")
        #expect(await engine.waitForCompletion(runID: "leased") == .completed)
        #expect(try await eventually { try await lease.holder(runID: "leased") == nil }, "released when the run ends")
        #expect(mirror.leases?.runs.isEmpty == true)
        await mirror.stop()
        await client.close()
        await engine.shutdown()
        #expect(await loop.shutdown().isClean)
    }
}

extension RunLeaseTests {
    @Test func aLostLeaseFencesTheMirrorAndTheEngineGivesTheRunUp() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-fence-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let mirror = RunLogMirror(engine: engine, node: "a", log: RedisEventLog(client: client), leaseTTL: .seconds(30)) { _ in }
        try mirror.start()
        let log = RedisEventLog(client: client)
        var builder = DAGBuilder()
        builder.task("first") { _ in "one" }
        builder.gate("review", after: ["first"], presentation: ["title": "Go?"])
        builder.task("last", after: ["review"]) { _ in "two" }
        _ = try await engine.start(try builder.build(), runID: "fenced")
        #expect(try await eventually {
            try await log.events(runID: "fenced", after: 0).contains { $0.event.typeName == "human_gate_waiting" }
        })
        let lease = try #require(mirror.leases)
        #expect(try await lease.lease.holder(runID: "fenced") == "a")
        let top = try await log.lastSeq(runID: "fenced")

        // Another node has the lease now (a's expired while it was frozen, say).
        _ = try await client.send(RedisCommand("SET", lease.lease.key(runID: "fenced"), "b"))
        await lease.renewAll()
        #expect(mirror.isFenced("fenced"))
        #expect(await engine.waitForCompletion(runID: "fenced") == .interrupted, "the engine gave the run up")
        let local = try engine.events(runID: "fenced")
        #expect(local.contains { if case .error(let e) = $0.event { e.code == "relinquished" } else { false } })
        await engine.log.flush()
        await mirror.stop()
        #expect(try await log.lastSeq(runID: "fenced") == top, "nothing more appended to the stream")
        #expect(try await lease.lease.holder(runID: "fenced") == "b", "the other node's lease is left alone")
        let record = try await client.send(RedisCommand("HGET", RunRegistry().runsKey, "fenced")).bytes.flatMap { RunRegistryRecord(decoding: $0) }
        #expect(record?.summary?.finished == false, "not announced finished by the fenced node")
        await client.close()
        await engine.shutdown()
        #expect(await loop.shutdown().isClean)
    }
}

/// Runs a keeper reported lost, in order.
final class LostRuns: Sendable {
    private let box = Mutex<[String]>([])
    func add(_ runID: String) { box.withLock { $0.append(runID) } }
    var runs: [String] { box.withLock { $0 } }
}
