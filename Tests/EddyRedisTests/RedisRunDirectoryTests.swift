import EddyDAG
import EddyDAGRedis
import EddyDAGStream
import EddyLoop
import EddyRedis
import EddyRunsRedis
import EddyTestSupport
import Foundation
import EddyShared
import struct Synchronization.Atomic
import Testing

/// Another node's view of a run (runs across nodes), against a real redis-server with AOF:
/// the directory lists the owner's run and follows its stream live, across a Redis restart,
/// with every `seq` once and the owner's bytes.
@Suite("Redis run directory", .timeLimit(.minutes(3)))
struct RedisRunDirectoryTests {
    @Test func followsARunAcrossARedisRestartWithEverySeqOnceAndTheOwnersBytes() async throws {
        let redis = try await RedisServer.start(["--appendonly", "yes"])
        defer { redis.shutDown() }
        let owner = try RunLogMirrorTests.Fixture(redis: redis, queueLimit: 10_000)
        var configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url))
        configuration.backoff = RedisBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        let loop = try EventLoop()
        let directory = RedisRunDirectory(node: "b", configuration: configuration, on: loop) { _ in }
        await directory.start(waitingUpTo: .seconds(5))

        var builder = DAGBuilder()
        builder.task("before") { _ in "before" }
        builder.gate("review", after: ["before"], presentation: "ship?")
        for index in 0..<5 { builder.task("after\(index)", after: [index == 0 ? "review" : "after\(index - 1)"]) { _ in .string("\(index)") } }
        let runID = try await owner.engine.start(try builder.build(), runID: "a-gated")
        // Bounded: 500 × 20 ms for the registry's record to reach this node.
        for _ in 0..<500 where directory.owner(of: runID) == nil { try await Task.sleep(for: .milliseconds(20)) }
        #expect(directory.owner(of: runID) == "a")
        #expect(directory.summaries().contains { $0.run.dagID == runID && $0.node == "a" })

        let seen = Seen()
        let following = Task {
            for try await update in directory.follow(runID: runID) {
                switch update {
                case .event(let event, _): seen.events.withLock { $0.append(event) }
                case .caughtUp: seen.caughtUp.store(true, ordering: .releasing)
                }
            }
        }
        for _ in 0..<500 where !seen.isCaughtUp { try await Task.sleep(for: .milliseconds(20)) }
        #expect(seen.isCaughtUp)

        try await redis.restart()
        let decision = ClientCommand(commandID: "go", action: .humanDecision(.init(nodeID: "review", decision: .approve)))
        #expect(await owner.engine.submit(decision, runID: runID).status == .accepted)
        #expect(await owner.engine.waitForCompletion(runID: runID) == .completed)
        await owner.engine.log.flush()
        // Ends by itself after execution_complete.
        try await following.value
        let logged = try owner.engine.log.encodedEvents(runID: runID, after: 0, upTo: .max)
        let got = seen.events.withLock { $0 }
        #expect(got.map(\.seq) == Array(1...Int64(logged.count)))
        #expect(got.map(\.bytes) == logged.map(\.bytes))

        await directory.stop()
        await owner.close()
        _ = await loop.shutdown()
    }
}

extension RedisRunDirectoryTests {
    @Test func aCommandForwardedToANodeThatDoesNotListenIsAnsweredNilAndTheRelayAnswersWithItsEngine() async throws {
        let redis = try await RedisServer.start()
        defer { redis.shutDown() }
        let owner = try RunLogMirrorTests.Fixture(redis: redis, queueLimit: 100)
        let configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: redis.url))
        let loop = try EventLoop()
        let directory = RedisRunDirectory(node: "b", configuration: configuration, on: loop, commandTimeout: .seconds(30)) { _ in }
        await directory.start(waitingUpTo: .seconds(5))
        let approve = Array(#"{"v":1,"type":"human_decision","command_id":"c1","node_id":"review","decision":"approve"}"#.utf8)
        // Nobody subscribes to node a's commands yet: answered at once, not after the timeout.
        #expect(await directory.forward(command: approve, runID: "a-gated", owner: "a") == nil)

        let relay = CommandRelay(engine: owner.engine, node: "a", configuration: configuration, on: loop) { _ in }
        relay.start()
        var builder = DAGBuilder()
        builder.gate("review", presentation: "ship?")
        builder.task("ship", after: ["review"]) { _ in "shipped" }
        let runID = try await owner.engine.start(try builder.build(), runID: "a-gated")
        var reply: EventEnvelope?
        // Bounded: the relay's subscription is confirmed within a few attempts.
        for _ in 0..<250 where reply == nil {
            reply = await directory.forward(command: approve, runID: runID, owner: "a")
            if reply == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard case .commandResult(let result)? = reply?.event else {
            Issue.record("no command_result: \(String(describing: reply))")
            return
        }
        #expect(result.commandID == "c1" && result.status == .accepted)
        #expect(await owner.engine.waitForCompletion(runID: runID) == .completed)
        await relay.stop()
        await directory.stop()
        await owner.close()
        _ = await loop.shutdown()
    }
}

/// What a follower yielded.
final class Seen: Sendable {
    let events = Mutex<[EncodedEvent]>([])
    let caughtUp = Atomic<Bool>(false)
    var isCaughtUp: Bool { caughtUp.load(ordering: .acquiring) }
}
