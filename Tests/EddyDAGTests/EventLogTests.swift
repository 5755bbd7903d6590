import EddyDAG
import Foundation
import EddyShared
import Testing

@Suite("Durable event log", .timeLimit(.minutes(3)))
struct EventLogTests {
    func smallDAG() throws -> DAGDefinition {
        var b = DAGBuilder()
        b.task("a") { _ in "a" }
        b.task("b", after: ["a"]) { ctx in
            await ctx.reportCost(tokens: 5, cost: 0.5)
            return "b"
        }
        return try b.build()
    }

    @Test("history, snapshot and epoch survive closing and reopening the database")
    func reopen() async throws {
        let dir = try TempDirectory()
        let config = DAGEngine.Configuration(eventLog: .init(path: dir.databasePath, synchronous: .normal))
        let first = try DAGEngine(configuration: config)
        let (status, events) = try await runToEnd(first, try smallDAG(), runID: "kept")
        #expect(status == .completed)
        let snapshot = try first.snapshot(runID: "kept")
        let epoch = first.epoch
        await first.shutdown()

        let second = try DAGEngine(configuration: config)
        #expect(second.epoch == epoch)
        #expect(second.log.recoveredRuns.isEmpty)
        let replayed = try second.events(runID: "kept")
        #expect(replayed.map(\.jsonBytes) == events.map(\.jsonBytes))
        #expect(try second.snapshot(runID: "kept").event == snapshot.event)
        #expect(try second.events(runID: "kept", after: 3).map(\.seq) == Array(events.dropFirst(3)).map(\.seq))
        // A finished run's subscription replays and ends.
        var received: [Int64] = []
        for await e in try second.subscribe(runID: "kept", since: 0, epoch: epoch) { received.append(e.seq) }
        #expect(received == events.map(\.seq))
        // Run ids stay unique across restarts.
        await #expect(throws: DAGEngineError.self) { try await second.start(try smallDAG(), runID: "kept") }
        #expect(throws: DAGEngineError.self) { try second.events(runID: "missing") }
        await second.shutdown()

        let other = try TempDirectory()
        let fresh = try DAGEngine(configuration: .init(eventLog: .init(path: other.databasePath)))
        #expect(fresh.epoch != epoch)
        await fresh.shutdown()
    }

    @Test("shutdown with a live run: waiters get nil, subscriptions end, the next open marks it interrupted")
    func shutdownWithLiveRun() async throws {
        let dir = try TempDirectory()
        let config = DAGEngine.Configuration(eventLog: .init(path: dir.databasePath, synchronous: .normal))
        let engine = try DAGEngine(configuration: config)
        let latch = Latch()
        var b = DAGBuilder()
        b.task("blocked") { _ in
            await latch.wait()
            return "late"
        }
        b.task("after", after: ["blocked"]) { _ in .null }
        let id = try await engine.start(try b.build(), runID: "live")
        try await waitForState(engine, id) { $0.node("blocked")?.status == .running }
        let subscription = try engine.subscribe(runID: id, since: 0)
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in subscription { n += 1 }
            return n
        }
        let waiter = Task { await engine.waitForCompletion(runID: id) }
        await engine.shutdown()
        #expect(try await withDeadline { await waiter.value } == nil)
        let received = try await withDeadline { await consumer.value }
        #expect(received == Int(try engine.state(runID: id).seq))
        await #expect(throws: DAGEngineError.self) { try await engine.start(try smallDAG(), runID: "after-close") }
        latch.open()  // the body finishes; its events are refused by the closed log and dropped

        let reopened = try DAGEngine(configuration: config)
        #expect(reopened.log.recoveredRuns == ["live"])
        let events = try reopened.events(runID: "live")
        checkHistory(events)
        guard case .executionComplete(let done)? = events.last?.event else { throw TestFailure("no completion") }
        #expect(done.status == .interrupted)
        #expect(statuses(of: "blocked", in: events).last == .cancelled)
        #expect(statuses(of: "after", in: events).last == .cancelled)
        await reopened.shutdown()
    }

    @Test("forget drops a finished run's state machine; its history stays")
    func forgetFinishedRun() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let (status, events) = try await runToEnd(engine, try smallDAG(), runID: "done")
        #expect(status == .completed)
        #expect(await engine.submit(ClientCommand(commandID: "p", action: .pauseExecution), runID: "done").reason == "execution is completed")
        #expect(await engine.forget(runID: "done"))
        #expect(await engine.submit(ClientCommand(commandID: "p2", action: .pauseExecution), runID: "done").status == .rejected)
        #expect(try engine.events(runID: "done").count == events.count)
        #expect(await engine.forget(runID: "done") == false)
    }

    @Test("subscribing from seq N replays N+1... then goes live with no gap and no duplicate")
    func subscribeFromSeq() async throws {
        let (engine, dir) = try makeEngine(synchronous: .normal)
        _ = dir
        let latch = Latch()
        var b = DAGBuilder(maxConcurrency: 1)
        b.task("a") { _ in "a" }
        b.task("b", after: ["a"]) { _ in
            await latch.wait()
            return "b"
        }
        for i in 0..<50 { b.task("c\(i)", after: i == 0 ? ["b"] : ["c\(i - 1)"]) { _ in .int(Int64(i)) } }
        let id = try await engine.start(try b.build(), runID: "run")
        try await waitForState(engine, id) { $0.node("b")?.status == .running }
        let head = try engine.state(runID: id).seq
        #expect(head > 4)
        let subscription = try engine.subscribe(runID: id, since: 3, epoch: engine.epoch)
        let collector = Task { () -> [Int64] in
            var seqs: [Int64] = []
            for await e in subscription { seqs.append(e.seq) }
            return seqs
        }
        latch.open()
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let seqs = try await withDeadline { await collector.value }
        let last = try engine.state(runID: id).seq
        #expect(seqs == Array(4...last))

        // A stale epoch gets a snapshot first, then nothing more (the run is over).
        var fromSnapshot: [EventEnvelope] = []
        for await e in try engine.subscribe(runID: id, since: 3, epoch: 12345) { fromSnapshot.append(e) }
        #expect(fromSnapshot.count == 1)
        #expect(fromSnapshot.first?.event.typeName == "snapshot")
        #expect(fromSnapshot.first?.seq == last)
    }

    @Test("retention keeps the configured number of finished runs")
    func retention() async throws {
        let (engine, dir) = try makeEngine(retention: RetentionPolicy(maxFinishedRuns: 2))
        _ = dir
        for i in 0..<3 {
            let (status, _) = try await runToEnd(engine, try smallDAG(), runID: "r\(i)")
            #expect(status == .completed)
        }
        await engine.log.flush()
        let kept = try engine.log.runs().map(\.runID)
        #expect(kept == ["r1", "r2"])
        #expect(throws: DAGEngineError.self) { try engine.events(runID: "r0") }
        #expect(try engine.events(runID: "r2").last?.event.typeName == "execution_complete")
    }

    @Test("retention by age deletes runs that finished too long ago")
    func retentionByAge() async throws {
        let dir = try TempDirectory()
        let time = ManualTime(1_000_000)
        let clock = EngineClock(now: { time.now }, sleep: { try await Task.sleep(for: $0) })
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: dir.databasePath, synchronous: .off, retention: RetentionPolicy(maxAge: .seconds(60))),
            clock: clock))
        #expect(try await runToEnd(engine, try smallDAG(), runID: "old").0 == .completed)
        time.now = 1_000_000 + 61_000
        #expect(try await runToEnd(engine, try smallDAG(), runID: "new").0 == .completed)
        await engine.log.flush()
        #expect(try engine.log.runs().map(\.runID) == ["new"])
        let heartbeat = try engine.heartbeat(runID: "new")
        #expect(heartbeat.event == .heartbeat)
        #expect(heartbeat.seq == (try engine.state(runID: "new").seq))
        #expect(heartbeat.ts == 1_061_000)
        await engine.shutdown()
    }

    @Test("runs started in the same millisecond are listed in the order they started")
    func sameMillisecond() async throws {
        let dir = try TempDirectory()
        let time = ManualTime(1_000_000) // never moves: every run starts in the same millisecond
        let clock = EngineClock(now: { time.now }, sleep: { try await Task.sleep(for: $0) })
        let engine = try DAGEngine(configuration: .init(
            eventLog: .init(path: dir.databasePath, synchronous: .off), clock: clock))
        for id in ["zulu", "alpha", "mike"] {
            #expect(try await runToEnd(engine, try smallDAG(), runID: id).0 == .completed)
        }
        await engine.log.flush()
        #expect(try engine.log.runs().map(\.runID) == ["zulu", "alpha", "mike"])
        #expect(try engine.runSummaries().map(\.dagID) == ["zulu", "alpha", "mike"])
        await engine.shutdown()
    }

    @Test("client messages: unknown type and malformed JSON are typed answers")
    func clientMessages() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.gate("g", presentation: "?")
        b.task("t", after: ["g"]) { _ in .null }
        let id = try await engine.start(try b.build(), runID: "run")
        try await waitForState(engine, id) { $0.node("g")?.status == .waitingHuman }
        let unknown = await engine.handleClientMessage(Array(#"{"type":"launch","command_id":"x"}"#.utf8), runID: id)
        #expect(unknown.event == .error(.init(code: "unknown_command", message: "unknown message type 'launch'")))
        let garbage = await engine.handleClientMessage(Array("not json".utf8), runID: id)
        #expect({ if case .error(let e) = garbage.event { e.code == "bad_message" } else { false } }())
        let ok = await engine.handleClientMessage(
            Array(#"{"type":"human_decision","command_id":"d1","node_id":"g","decision":"approve"}"#.utf8), runID: id)
        guard case .commandResult(let r) = ok.event else { throw TestFailure("expected command_result") }
        #expect(r.status == .accepted)
        #expect(ok.seq == r.seq)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
    }
}

/// A settable clock reading for tests.
final class ManualTime: Sendable {
    private let value: Mutex<Int64>
    init(_ value: Int64) { self.value = Mutex(value) }
    var now: Int64 {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
