import EddyDAG
import EddyShared
import Foundation
import Testing

/// The engine's side of a log of record (`DAGEngine.replicate(to:policy:)`), with a replica the
/// test acknowledges by hand (Redis's is tested in EddyRedisTests): nothing is shown or acted on
/// before the replica stored it, a refused run goes on alone, a long wait is logged.
@Suite("A log of record", .timeLimit(.minutes(3)))
struct LogOfRecordTests {
    /// Holds what the engine hands over; the test says when it is "stored".
    final class ManualReplica: EventReplica {
        private let received = Mutex<[EncodedEvent]>([])
        func replicate(_ events: [EncodedEvent]) { received.withLock { $0 += events } }
        var top: Int64 { received.withLock { $0.last?.seq ?? 0 } }
        var count: Int { received.withLock { $0.count } }
    }

    static func chain(_ ran: Counter) throws -> DAGDefinition {
        var builder = DAGBuilder()
        builder.task("a") { _ in
            ran.increment()
            return "one"
        }
        builder.task("b", after: ["a"]) { _ in
            ran.increment()
            return "two"
        }
        return try builder.build()
    }

    /// Reports everything the replica received as stored, as it comes, until the run is over
    /// (bounded: 2,000 × 2 ms).
    func acknowledgeAsItComes(_ engine: DAGEngine, _ replica: ManualReplica, _ runID: String) async throws {
        var acknowledged: Int64 = 0
        for _ in 0..<2_000 where try !engine.state(runID: runID).isFinished {
            if replica.top > acknowledged {
                acknowledged = replica.top
                engine.replicaStored(runID: runID, through: acknowledged)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Polls (bounded: 2,000 × 5 ms) until `condition` holds.
    func eventually(_ condition: () throws -> Bool) async throws -> Bool {
        for _ in 0..<2_000 {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    @Test func nothingIsShownOrStartedBeforeTheReplicaStoredIt() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let replica = ManualReplica()
        try engine.replicate(to: replica, policy: ReplicationPolicy(appendDeadline: .seconds(30)))
        let ran = Counter()
        let runID = try await engine.start(try Self.chain(ran), runID: "r")
        let subscription = try engine.subscribe(runID: runID, since: 0)
        let seen = Task {
            var seqs: [Int64] = []
            for await envelope in subscription { seqs.append(envelope.seq) }
            return seqs
        }
        // The first events reach the replica; none is shown, no body starts.
        #expect(try await eventually { replica.count > 0 })
        await engine.log.flush()
        try await Task.sleep(for: .milliseconds(100))
        #expect(ran.current == 0)
        #expect(try engine.state(runID: runID).seq == 0)
        #expect(try engine.events(runID: runID).count == replica.count, "logged in SQLite meanwhile")

        // Part of it stored: shown up to there, still nothing started (its start comes after).
        engine.replicaStored(runID: runID, through: 1)
        #expect(try await eventually { try engine.state(runID: runID).seq == 1 })
        #expect(ran.current == 0)

        // Stored as it comes: the run goes to its end.
        try await acknowledgeAsItComes(engine, replica, runID)
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        #expect(ran.current == 2)
        let logged = try engine.events(runID: runID)
        checkHistory(logged)
        #expect(await seen.value == logged.map(\.seq))
        await engine.shutdown()
    }

    /// Refused: the run is another process's now. Nothing deferred is carried out here; what
    /// it logged is shown as it commits, and relinquishing ends it here.
    @Test func aRefusedRunStartsNothingMoreAndEndsWhenRelinquished() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let replica = ManualReplica()
        try engine.replicate(to: replica)
        let ran = Counter()
        let runID = try await engine.start(try Self.chain(ran), runID: "r")
        #expect(try await eventually { replica.count > 0 })
        engine.replicaRefused(runID: runID)
        #expect(await engine.relinquish(runID: runID, reason: "another node runs it"))
        #expect(try await withDeadline { await engine.waitForCompletion(runID: runID) } == .interrupted)
        #expect(ran.current == 0)
        let logged = try engine.events(runID: runID)
        checkHistory(logged)
        #expect(try engine.state(runID: runID).seq == logged.last?.seq, "shown as committed")
        await engine.shutdown()
    }

    @Test func aRunWaitingPastTheDeadlineLogsLogUnavailableAndGoesOnWhenStored() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let replica = ManualReplica()
        try engine.replicate(to: replica, policy: ReplicationPolicy(appendDeadline: .milliseconds(100)))
        let ran = Counter()
        let runID = try await engine.start(try Self.chain(ran), runID: "r")
        let unavailable = { () -> Bool in
            // Safe to drop: the run is in SQLite once its start commits.
            ((try? engine.events(runID: runID)) ?? []).contains {
                if case .error(let e) = $0.event { e.code == "log_unavailable" } else { false }
            }
        }
        #expect(try await eventually(unavailable))
        #expect(ran.current == 0, "still waiting")
        try await acknowledgeAsItComes(engine, replica, runID)
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        #expect(ran.current == 2)
        checkHistory(try engine.events(runID: runID))
        await engine.shutdown()
    }

    /// A body that reports faster than the log of record stores is held, not its events dropped.
    @Test func aChattyBodyIsHeldPastMaxUnstoredEventsAndGoesOnWhenStored() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let replica = ManualReplica()
        try engine.replicate(to: replica, policy: ReplicationPolicy(appendDeadline: .seconds(30), maxUnstoredEvents: 5))
        let reported = Counter()
        var builder = DAGBuilder()
        builder.task("chatty") { context in
            for index in 0..<50 {
                await context.progress(.string("step \(index)"))
                reported.increment()
            }
            return "done"
        }
        let runID = try await engine.start(try builder.build(), runID: "r")
        // Its start stored: the body runs, and stops reporting once 5 events wait unstored.
        #expect(try await eventually { replica.count > 0 })
        engine.replicaStored(runID: runID, through: replica.top)
        #expect(try await eventually { reported.current > 0 })
        try await Task.sleep(for: .milliseconds(200))
        let held = reported.current
        #expect(held < 50, "held after \(held) reports")
        #expect(try engine.events(runID: runID).count <= Int(replica.top) + 7)

        try await acknowledgeAsItComes(engine, replica, runID)
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        #expect(reported.current == 50)
        let logged = try engine.events(runID: runID)
        checkHistory(logged)
        let progress = logged.filter { if case .nodeState(let state) = $0.event { state.output != nil && state.status == .running } else { false } }
        #expect(progress.count == 50, "every report logged")
        await engine.shutdown()
    }

    @Test func aLogOfRecordIsRefusedOnceRunsAreLiveOrOneIsAttached() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        try engine.replicate(to: ManualReplica())
        #expect(throws: DAGEngineError.self) { try engine.replicate(to: ManualReplica()) }
        await engine.shutdown()

        let (busy, busyDir) = try makeEngine()
        _ = busyDir
        var builder = DAGBuilder()
        builder.gate("wait", presentation: ["title": "hold"])
        builder.task("after", after: ["wait"]) { _ in "done" }
        _ = try await busy.start(try builder.build(), runID: "live")
        #expect(throws: DAGEngineError.self) { try busy.replicate(to: ManualReplica()) }
        await busy.shutdown()
    }
}
