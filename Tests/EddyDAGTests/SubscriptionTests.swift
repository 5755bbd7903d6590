@testable import EddyDAG
import Foundation
import Testing

@Suite("Subscriptions", .timeLimit(.minutes(3)))
struct SubscriptionTests {
    func blockedRun(_ engine: DAGEngine, latch: Latch) async throws -> String {
        var b = DAGBuilder()
        b.task("wait") { _ in
            await latch.wait()
            return "done"
        }
        let id = try await engine.start(try b.build(), runID: "run")
        try await waitForState(engine, id) { $0.node("wait")?.status == .running }
        return id
    }

    @Test("cancelling the consuming task ends the iteration and unregisters the subscriber")
    func cancelConsumer() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let latch = Latch()
        let id = try await blockedRun(engine, latch: latch)
        let subscription = try engine.subscribe(runID: id, since: 0)
        #expect(engine.hub.subscriberCount(runID: id) == 1)
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in subscription { n += 1 }
            return n
        }
        try await waitForState(engine, id) { $0.seq > 0 }
        consumer.cancel()
        let received = try await withDeadline { await consumer.value }
        #expect(received <= (try engine.state(runID: id).seq))
        #expect(engine.hub.subscriberCount(runID: id) == 0)
        latch.open()
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
    }

    @Test("the lobby lists the runs, then reports each start, finish and removal once, in order")
    func lobby() async throws {
        // Retention keeps two finished runs: the third to finish removes the first.
        let (engine, dir) = try makeEngine(retention: RetentionPolicy(maxFinishedRuns: 2))
        _ = dir
        var quick = DAGBuilder()
        quick.task("only") { _ in "done" }
        let before = try await engine.start(try quick.build(), runID: "before")
        #expect(try await withDeadline { await engine.waitForCompletion(runID: before) } == .completed)
        let latch = Latch()
        let blocked = try await blockedRun(engine, latch: latch)

        let lobby = try engine.subscribeLobby()
        var iterator = lobby.makeAsyncIterator()
        let first = await iterator.next()
        guard case .runs(let runs)? = first?.event else {
            Issue.record("first lobby message: \(String(describing: first))")
            return
        }
        #expect(runs.map(\.dagID) == ["before", "run"])
        #expect(runs.first?.finished == true && runs.first?.status == .completed)
        #expect(runs.last?.finished == false && runs.last?.status == .running)
        #expect(first?.epoch == engine.epoch)

        let next = try await engine.start(try quick.build(), runID: "next")
        #expect(try await withDeadline { await engine.waitForCompletion(runID: next) } == .completed)
        latch.open()
        #expect(try await withDeadline { await engine.waitForCompletion(runID: blocked) } == .completed)

        var seen: [String] = []
        while seen.count < 4, let message = await iterator.next() {
            switch message.event {
            case .runStarted(let run): seen.append("started \(run.dagID)")
            case .runFinished(let run): seen.append("finished \(run.dagID) \(run.status?.rawValue ?? "-") \(run.lastSeq)")
            case .runRemoved(let id): seen.append("removed \(id)")
            case .runs, .heartbeat: seen.append("unexpected \(message.typeName)")
            }
        }
        let nextSeq = try engine.state(runID: next).seq
        let blockedSeq = try engine.state(runID: blocked).seq
        #expect(seen == ["started next", "finished next completed \(nextSeq)", "finished run completed \(blockedSeq)", "removed before"])
        let listed = try engine.runSummaries().map { "\($0.dagID) \($0.finished)" }
        #expect(listed == ["run true", "next true"])
        await engine.shutdown()
        #expect(await iterator.next() == nil, "the lobby ends at shutdown")
    }

    @Test("finished runs beyond the cache bound leave memory and are reloaded from the log on demand")
    func finishedRunsAreEvicted() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var quick = DAGBuilder()
        quick.task("only") { _ in "done" }
        let definition = try quick.build()
        let bound = engine.hub.maxCachedFinishedRuns
        for i in 0..<(bound + 20) {
            let id = try await engine.start(definition, runID: "r\(i)")
            #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        }
        #expect(engine.hub.cachedFinishedRunCount == bound)
        // The oldest run was evicted; it is served from the log, whole.
        let first = try engine.state(runID: "r0")
        #expect(first.isFinished && first.node("only")?.output == "done")
        var replay = try engine.subscribe(runID: "r0").makeAsyncIterator()
        let snapshot = await replay.next()
        #expect(snapshot?.seq == first.seq)
        #expect(await replay.next() == nil, "a finished run's subscription ends after its snapshot")
        #expect(try engine.runSummaries().count == bound + 20)
        #expect(engine.hub.cachedFinishedRunCount == bound)
        await engine.shutdown()
    }

    @Test("dropping a subscription unregisters it")
    func dropSubscription() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let latch = Latch()
        let id = try await blockedRun(engine, latch: latch)
        do {
            let subscription = try engine.subscribe(runID: id)
            _ = subscription
            #expect(engine.hub.subscriberCount(runID: id) == 1)
        }
        #expect(engine.hub.subscriberCount(runID: id) == 0)
        latch.open()
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
    }

    @Test("several subscribers each get every event once, in order")
    func manySubscribers() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let latch = Latch()
        var b = DAGBuilder(maxConcurrency: 4)
        b.task("gate-keeper") { _ in
            await latch.wait()
            return "go"
        }
        for i in 0..<200 { b.task("n\(i)", after: ["gate-keeper"]) { _ in .int(Int64(i)) } }
        let id = try await engine.start(try b.build(), runID: "run")
        let consumers = try (0..<5).map { _ in
            let sub = try engine.subscribe(runID: id, since: 0)
            return Task { () -> [Int64] in
                var seqs: [Int64] = []
                for await e in sub { seqs.append(e.seq) }
                return seqs
            }
        }
        latch.open()
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let last = try engine.state(runID: id).seq
        for c in consumers {
            let seqs = try await withDeadline { await c.value }
            #expect(seqs == Array(1...last))
        }
    }
}
