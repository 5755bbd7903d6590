@testable import EddyDAG
import Foundation
import Testing

@Suite("Subscriptions", .timeLimit(.minutes(1)))
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
