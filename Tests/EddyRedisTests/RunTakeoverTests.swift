import EddyDAG
import EddyDAGRedis
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyTestSupport
import Foundation
import Testing

/// `RunTakeover` against a real redis-server, one pass at a time (`poll`, no timing): a live run
/// of node "a" whose lease is gone is adopted by node "b" and continued in the same stream under
/// b's name; a run whose stream already ends is only announced finished; a held lease is left alone.
@Suite("Redis run takeover", .timeLimit(.minutes(3)))
struct RunTakeoverTests {
    /// first → review (gate) → last.
    static func definition() throws -> DAGDefinition {
        var builder = DAGBuilder()
        builder.task("first") { _ in "one" }
        builder.gate("review", after: ["first"], presentation: ["title": "Go?"])
        builder.task("last", after: ["review"]) { _ in "two" }
        return try builder.build()
    }

    /// Node "b": an engine, its mirror with leases, its directory and its takeover.
    struct NodeB {
        let directory: URL
        let engine: DAGEngine
        let client: RedisClient
        let mirror: RunLogMirror
        let runs: RedisRunDirectory
        let takeover: RunTakeover

        init(redis: RedisServer, loop: EventLoop) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-takeover-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            engine = try DAGEngine(configuration: .init(
                eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
            let configuration = try RunLeaseTests.configuration(redis)
            client = RedisClient(configuration: configuration, on: loop)
            mirror = RunLogMirror(engine: engine, node: "b", log: RedisEventLog(client: client), leaseTTL: .seconds(30)) { _ in }
            try mirror.start()
            runs = RedisRunDirectory(node: "b", configuration: configuration, on: loop) { _ in }
            await runs.start(waitingUpTo: .seconds(30))
            let leases = try #require(mirror.leases)
            takeover = RunTakeover(mirror: mirror, leases: leases, directory: runs, definition: { _ in try? RunTakeoverTests.definition() }) { _ in }
        }

        func close() async {
            await takeover.stop()
            await mirror.stop()
            await runs.stop()
            await client.close()
            await engine.shutdown()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Runs `definition` on a scratch engine of node "a" until `until` holds, copies its events
    /// to the run's stream and lists it as a's, running (what a's mirror would have done before a died).
    static func deadOwnersRun(_ runID: String, client: RedisClient, approve: Bool) async throws -> [EncodedEvent] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-dead-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: .off)))
        _ = try await engine.start(try definition(), runID: runID)
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? engine.state(runID: runID))?.node("review")?.status != .waitingHuman, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        if approve {
            _ = await engine.submit(ClientCommand(commandID: "c", action: .humanDecision(.init(nodeID: "review", decision: .approve))),
                                    runID: runID)
            _ = await engine.waitForCompletion(runID: runID)
        }
        await engine.log.flush()
        let events = try engine.log.encodedEvents(runID: runID, after: 0)
        await engine.shutdown()
        _ = try await RedisEventLog(client: client).append(encoded: events)
        let record = RunRegistryRecord(node: "a", message: LobbyMessage(epoch: 1, ts: 0, event: .runStarted(
            RunSummary(dagID: runID, finished: false, status: .running, lastSeq: 1))))
        _ = try await client.send(RedisCommand("HSET", arguments: [Array(RunRegistry().runsKey.utf8), Array(runID.utf8), record.bytes]))
        return events
    }

    func record(_ runID: String, _ client: RedisClient) async throws -> RunRegistryRecord? {
        try await client.send(RedisCommand("HGET", RunRegistry().runsKey, runID)).bytes.flatMap { RunRegistryRecord(decoding: $0) }
    }

    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func aLiveRunWithoutLeaseIsAdoptedAndContinuedInTheSameStreamUnderTheNewOwner() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let history = try await Self.deadOwnersRun("gated", client: client, approve: false)
        let held = try await Self.deadOwnersRun("held", client: client, approve: false)
        let lease = RunLease(node: "a", ttl: .seconds(30), client: client)
        #expect(try await lease.acquire(runID: "held"), "a still holds this one")
        let b = try await NodeB(redis: redis, loop: loop)
        // A third node's directory, which knew the run as a's.
        let c = RedisRunDirectory(node: "c", configuration: try RunLeaseTests.configuration(redis), on: loop) { _ in }
        await c.start(waitingUpTo: .seconds(30))
        #expect(c.owner(of: "gated") == "a")

        await b.takeover.poll()
        #expect(b.takeover.adoptedCount == 1)
        #expect(try await eventually { c.owner(of: "gated") == "b" }, "the other nodes learn the new owner")
        #expect(try await lease.holder(runID: "gated") == "b")
        #expect(try await lease.holder(runID: "held") == "a")
        #expect((try? b.engine.state(runID: "held")) == nil, "a run whose lease is held is left alone")
        let state = try b.engine.state(runID: "gated")
        #expect(state.node("review")?.status == .waitingHuman)
        #expect(state.seq > Int64(history.count), "the takeover's events follow a's")
        #expect(state.epoch == (try ProtocolDecoder.decodeEnvelope(history[0].bytes)).epoch, "a's epoch")
        #expect(held.count == history.count)

        // b's mirror continues the same stream and names b as the owner.
        #expect(try await eventually { try await record("gated", client)?.node == "b" })
        _ = await b.engine.submit(ClientCommand(commandID: "c", action: .humanDecision(.init(nodeID: "review", decision: .approve))),
                                  runID: "gated")
        #expect(await b.engine.waitForCompletion(runID: "gated") == .completed)
        #expect(try await eventually { try await record("gated", client)?.summary?.finished == true })
        let stream = try await RedisEventLog(client: client).encodedEvents(runID: "gated", after: 0)
        let local = try b.engine.log.encodedEvents(runID: "gated", after: 0)
        #expect(stream.map(\.bytes) == local.map(\.bytes), "one stream: a's events, then b's, byte for byte")
        #expect(Array(stream.prefix(history.count)).map(\.bytes) == history.map(\.bytes))
        #expect(try await lease.holder(runID: "gated") == nil, "released at the end")

        await b.takeover.poll()
        #expect(b.takeover.adoptedCount == 1, "nothing more to take over")
        await c.stop()
        await b.close()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func aRunWhoseStreamAlreadyEndsIsAnnouncedFinishedNotAdopted() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try RunLeaseTests.configuration(redis), on: loop)
        let events = try await Self.deadOwnersRun("ended", client: client, approve: true)
        let b = try await NodeB(redis: redis, loop: loop)
        await b.takeover.poll()
        #expect(b.takeover.adoptedCount == 0)
        #expect((try? b.engine.state(runID: "ended")) == nil)
        let announced = try #require(try await record("ended", client))
        #expect(announced.node == "a")
        #expect(announced.summary == RunSummary(dagID: "ended", finished: true, status: .completed, lastSeq: Int64(events.count)))
        #expect(try await RunLease(node: "b", ttl: .seconds(1), client: client).holder(runID: "ended") == nil)
        await b.close()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }
}
