import EddyDAG
import EddyTestSupport
import Foundation
import Testing

@Suite("Snapshot + replay equals live state", .timeLimit(.minutes(3)))
struct SnapshotReplayTests {
    /// A random DAG: tasks that succeed, fail, retry, report cost and progress, gates decided by
    /// timeout, and one node that fans out.
    static func randomDefinition(seed: UInt64) throws -> DAGDefinition {
        var rng = SplitMix64(seed: seed)
        let count = Int.random(in: 4...24, using: &rng)
        var b = DAGBuilder(
            budget: Bool.random(using: &rng) ? BudgetPolicy(limit: Double.random(in: 0.5...3, using: &rng)) : .unlimited,
            maxConcurrency: Int.random(in: 1...6, using: &rng))
        for i in 0..<count {
            let id = "n\(i)"
            var deps: [NodeID] = []
            if i > 0 {
                for _ in 0..<Int.random(in: 0...2, using: &rng) {
                    let d = "n\(Int.random(in: 0..<i, using: &rng))"
                    if !deps.contains(d) { deps.append(d) }
                }
            }
            let roll = Int.random(in: 0..<10, using: &rng)
            let cost = Double(Int.random(in: 0...30, using: &rng)) / 100
            if roll == 0 && i < count - 1 {
                // A gate needs a dependant: the next node will depend on it.
                let action: GateTimeoutPolicy.Action = Bool.random(using: &rng) ? .approve : .reject
                b.gate(id, after: deps, presentation: ["n": .int(Int64(i))],
                       timeout: GateTimeoutPolicy(after: .milliseconds(1), action: action))
                b.task("n\(i)-after", after: [id]) { _ in "after-gate" }
                continue
            }
            let failing = roll == 1
            let flaky = roll == 2
            let fansOut = roll == 3
            let attempts = Counter()
            b.task(id, after: deps, retry: RetryPolicy(maxAttempts: flaky ? 2 : 1, backoff: .fixed(.milliseconds(1)))) { ctx in
                await ctx.progress(["step": 1])
                await ctx.reportCost(tokens: 10, cost: cost)
                if failing { throw TestFailure("fails \(id)") }
                if flaky && attempts.increment() == 1 { throw TestFailure("flaky \(id)") }
                if fansOut {
                    try await ctx.mutate(DAGMutation(addNodes: [
                        .task("\(id)-child-a", after: [id]) { _ in "a" },
                        .task("\(id)-child-b", after: ["\(id)-child-a"]) { _ in "b" },
                    ]))
                }
                return ["id": .string(id), "attempt": .int(Int64(ctx.attempt))]
            }
        }
        return try b.build()
    }

    @Test("for every cut N: snapshot(N) over the wire + events after N == full replay == live store",
          arguments: Array(UInt64(1)...UInt64(24)))
    func snapshotPlusReplay(seed: UInt64) async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let definition = try Self.randomDefinition(seed: seed)
        let id = try await engine.start(definition, runID: "r\(seed)")
        // A live subscriber that starts from a snapshot while the run is going.
        let live = try engine.subscribe(runID: id)
        let liveTask = Task { () -> DAGStateStore in
            var store = DAGStateStore(dagID: "", epoch: 0)
            for await e in live {
                if case .gap = store.apply(e) { return DAGStateStore(dagID: "gap", epoch: -1) }
            }
            return store
        }
        let status = try await withDeadline { await engine.waitForCompletion(runID: id) }
        #expect(status != nil)
        let events = try engine.events(runID: id)
        checkHistory(events)

        var full = DAGStateStore(dagID: id, epoch: engine.epoch)
        for e in events { #expect(full.apply(e) == .applied) }
        #expect(full == (try engine.state(runID: id)), "hub store differs from replay")
        let liveStore = try await withDeadline { await liveTask.value }
        #expect(liveStore.state == full.state && liveStore.seq == full.seq, "snapshot-started live subscriber differs")

        var prefix = DAGStateStore(dagID: id, epoch: engine.epoch)
        for cut in 0...events.count {
            if cut > 0 { prefix.apply(events[cut - 1]) }
            let wire = prefix.snapshotEnvelope(ts: 0).jsonBytes
            var rebuilt = DAGStateStore(dagID: "other", epoch: 0)
            #expect(rebuilt.apply(try ProtocolDecoder.decodeEnvelope(wire)) == .applied)
            for e in events[cut...] { rebuilt.apply(e) }
            #expect(rebuilt == full, "seed \(seed) cut \(cut)")
        }
        // Every logged event round-trips through the wire format.
        for e in events {
            let bytes = e.jsonBytes
            #expect(try ProtocolDecoder.decodeEnvelope(bytes).jsonBytes == bytes)
        }
    }

    @Test func reducerRefusesGapsAndIgnoresDuplicates() {
        var store = DAGStateStore(dagID: "d", epoch: 1)
        let e1 = EventEnvelope(dagID: "d", epoch: 1, seq: 1, ts: 0, event: .executionState(.init(status: .running)))
        let e3 = EventEnvelope(dagID: "d", epoch: 1, seq: 3, ts: 0, event: .executionState(.init(status: .paused)))
        #expect(store.apply(e1) == .applied)
        #expect(store.apply(e1) == .duplicate)
        #expect(store.apply(e3) == .gap(expected: 2, received: 3))
        #expect(store.state.status == .running)
        let heartbeat = EventEnvelope(dagID: "d", epoch: 1, seq: 1, ts: 0, event: .heartbeat)
        #expect(store.apply(heartbeat) == .ignored)
    }
}
