import EddyDAG
import Foundation
import Testing

/// `DAGEngine.adopt`: a second engine takes a live run over from the first one's logged events.
@Suite("Adopting a run from its log", .timeLimit(.minutes(3)))
struct AdoptionTests {
    /// fetch → (slow, review) → publish: once `slow` runs and `review` waits, the run has a
    /// completed node, a running one and a waiting gate. `slow` blocks on `release`.
    func definition(fetches: Counter, slowStarts: Counter, release: Latch) throws -> DAGDefinition {
        var b = DAGBuilder()
        b.task("fetch") { _ in
            fetches.increment()
            return "fetched"
        }
        b.task("slow", after: ["fetch"]) { ctx in
            slowStarts.increment()
            await release.wait()
            return .string("slow done, attempt \(ctx.attempt)")
        }
        b.gate("review", after: ["fetch"], presentation: ["title": "Publish?"])
        b.task("publish", after: ["slow", "review"]) { _ in "published" }
        return try b.build()
    }

    /// Engine A runs until `slow` runs and `review` waits; returns A, its run's logged bytes
    /// and the latch that would let A's `slow` finish (never opened before A is shut down).
    func deadOwner() async throws -> (engine: DAGEngine, dir: TempDirectory, history: [EncodedEvent], release: Latch) {
        let (engine, dir) = try makeEngine()
        let release = Latch()
        let id = try await engine.start(try definition(fetches: Counter(), slowStarts: Counter(), release: release), runID: "run")
        try await waitForState(engine, id) {
            $0.node("slow")?.status == .running && $0.node("review")?.status == .waitingHuman
        }
        await engine.log.flush()
        let history = try engine.log.encodedEvents(runID: id, after: 0)
        await engine.shutdown()
        return (engine, dir, history, release)
    }

    @Test("completed nodes keep their outputs, running ones retry as a new attempt, gates wait again; same epoch, seq goes on")
    func adoptMidRun() async throws {
        let owner = try await deadOwner()
        defer { owner.release.open() }
        let ownerEvents = try owner.history.map { try ProtocolDecoder.decodeEnvelope($0.bytes) }
        let ownerEpoch = try #require(ownerEvents.first?.epoch)

        let (adopter, dir) = try makeEngine()
        _ = dir
        #expect(adopter.epoch != ownerEpoch)
        let (fetches, slowStarts, release) = (Counter(), Counter(), Latch())
        release.open()
        try await adopter.adopt(try definition(fetches: fetches, slowStarts: slowStarts, release: release), runID: "run",
                                history: owner.history, by: "node-b")
        try await waitForState(adopter, "run") { $0.node("slow")?.status == .completed }
        let state = try adopter.state(runID: "run")
        #expect(state.epoch == ownerEpoch)
        #expect(state.node("review")?.status == .waitingHuman)
        #expect(state.state.waitingGates.map(\.nodeID) == ["review"])
        #expect(state.node("fetch")?.output == "fetched")
        #expect(state.node("slow")?.attempt == 2)
        #expect(state.node("slow")?.output == "slow done, attempt 2")

        let approval = await adopter.submit(
            ClientCommand(commandID: "c1", action: .humanDecision(.init(nodeID: "review", decision: .approve))), runID: "run")
        #expect(approval.status == .accepted)
        #expect(try await withDeadline { await adopter.waitForCompletion(runID: "run") } == .completed)

        let events = try adopter.events(runID: "run")
        checkHistory(events)
        #expect(events.allSatisfy { $0.epoch == ownerEpoch })
        // The adopter's log starts with the owner's events, byte for byte.
        let stored = try adopter.log.encodedEvents(runID: "run", after: 0, upTo: Int64(owner.history.count))
        #expect(stored.map(\.bytes) == owner.history.map(\.bytes))
        let adopted = events.dropFirst(owner.history.count)
        #expect(adopted.first.map { if case .error(let e) = $0.event { e.code == "adopted" } else { false } } == true)
        #expect(fetches.current == 0, "a completed node is not run again")
        #expect(slowStarts.current == 1, "the cut-off attempt runs again once, here")
        #expect(statuses(of: "slow", in: Array(adopted)) == [.retrying, .running, .completed])
        #expect(statuses(of: "fetch", in: Array(adopted)).isEmpty)
        #expect(statuses(of: "review", in: Array(adopted)) == [.completed])
        #expect(eventsOfType("human_gate_waiting", in: Array(adopted)).isEmpty, "the gate was already announced waiting")
        #expect(try adopter.state(runID: "run").node("publish")?.output == "published")

        // A dashboard that followed the dead owner resumes here by replay, not by snapshot.
        let head = Int64(owner.history.count)
        var resumed: [EventEnvelope] = []
        for await envelope in try adopter.subscribe(runID: "run", since: head, epoch: ownerEpoch) { resumed.append(envelope) }
        #expect(resumed.map(\.seq) == Array(events.dropFirst(Int(head)).map(\.seq)))
        #expect(!resumed.contains { $0.event.typeName == "snapshot" })
        await adopter.shutdown()
    }

    @Test("a gate waiting at the takeover waits again, and its timeout runs from the takeover")
    func gateTimeoutRestarts() async throws {
        func definition(gateTimeout: Duration) throws -> DAGDefinition {
            var b = DAGBuilder()
            b.task("first") { _ in "one" }
            b.gate("review", after: ["first"], presentation: "ok?", timeout: GateTimeoutPolicy(after: gateTimeout, action: .approve))
            b.task("last", after: ["review"]) { ctx in ctx.inputs["review"] ?? .null }
            return try b.build()
        }
        let (owner, ownerDir) = try makeEngine()
        _ = ownerDir
        _ = try await owner.start(try definition(gateTimeout: .seconds(600)), runID: "gated")
        try await waitForState(owner, "gated") { $0.node("review")?.status == .waitingHuman }
        await owner.log.flush()
        let history = try owner.log.encodedEvents(runID: "gated", after: 0)
        await owner.shutdown()

        let (adopter, dir) = try makeEngine()
        _ = dir
        try await adopter.adopt(try definition(gateTimeout: .milliseconds(50)), runID: "gated", history: history, by: "b")
        #expect(try await withDeadline { await adopter.waitForCompletion(runID: "gated") } == .completed)
        let events = try adopter.events(runID: "gated")
        checkHistory(events)
        let adopted = Array(events.dropFirst(history.count))
        #expect(statuses(of: "review", in: adopted) == [.completed], "approved by the timeout armed at the takeover")
        #expect(eventsOfType("gate_resolved", in: adopted).count == 1)
        #expect(statuses(of: "first", in: adopted).isEmpty)
        await adopter.shutdown()
    }

    @Test("a relinquished run stops its bodies and ends interrupted, once")
    func relinquish() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let release = Latch()
        defer { release.open() }
        let (fetches, slowStarts) = (Counter(), Counter())
        let id = try await engine.start(try definition(fetches: fetches, slowStarts: slowStarts, release: release), runID: "run")
        try await waitForState(engine, id) { $0.node("slow")?.status == .running && $0.node("review")?.status == .waitingHuman }
        #expect(await engine.relinquish(runID: id, reason: "node b holds the lease"))
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .interrupted)
        #expect(await engine.relinquish(runID: id, reason: "again") == false)
        let events = try engine.events(runID: id)
        checkHistory(events)
        let state = try engine.state(runID: id)
        #expect(state.node("fetch")?.status == .completed)
        for node in ["slow", "review", "publish"] { #expect(state.node(node)?.status == .cancelled) }
        #expect(eventsOfType("error", in: events).contains { if case .error(let e) = $0 { e.code == "relinquished" } else { false } })
        // The cancelled body's late result changes nothing.
        release.open()
        await engine.log.flush()
        #expect(try engine.events(runID: id).count == events.count)
        await engine.shutdown()
    }

    @Test("a history that is not a live run of the definition is refused, and nothing is stored")
    func refusals() async throws {
        let owner = try await deadOwner()
        defer { owner.release.open() }
        let (adopter, dir) = try makeEngine()
        _ = dir
        let release = Latch()
        release.open()
        let definition = try definition(fetches: Counter(), slowStarts: Counter(), release: release)

        let gap = owner.history.enumerated().filter { $0.offset != 2 }.map(\.element)
        await #expect(throws: DAGEngineError.self) { try await adopter.adopt(definition, runID: "run", history: gap, by: "b") }
        await #expect(throws: DAGEngineError.self) { try await adopter.adopt(definition, runID: "other", history: owner.history, by: "b") }
        await #expect(throws: DAGEngineError.self) { try await adopter.adopt(definition, runID: "run", history: [], by: "b") }
        var other = DAGBuilder()
        other.task("fetch") { _ in .null }
        await #expect(throws: DAGEngineError.self) {
            try await adopter.adopt(try other.build(), runID: "run", history: owner.history, by: "b")
        }
        #expect(try !adopter.log.hasRun("run"))

        // A finished run is not adopted either.
        let (finishedOwner, finishedDir) = try makeEngine()
        _ = finishedDir
        var quick = DAGBuilder()
        quick.task("only") { _ in "done" }
        let (status, _) = try await runToEnd(finishedOwner, try quick.build(), runID: "done")
        #expect(status == .completed)
        let finished = try finishedOwner.log.encodedEvents(runID: "done", after: 0)
        let quickDefinition = try quick.build()
        do throws(DAGEngineError) {
            try await adopter.adopt(quickDefinition, runID: "done", history: finished, by: "b")
            Issue.record("a finished run was adopted")
        } catch {
            #expect(error.isNotAdoptable)
        }
        await finishedOwner.shutdown()
        await adopter.shutdown()
    }
}
