import EddyDAG
import Foundation
import Testing

@Suite("Human gates and budget", .timeLimit(.minutes(3)))
struct GateAndBudgetTests {
    func gateDAG() throws -> DAGDefinition {
        var b = DAGBuilder()
        b.task("draft") { _ in "draft text" }
        b.gate("review", after: ["draft"], presentation: ["title": "Publish?", "draft": "draft text"])
        b.task("publish", after: ["review"]) { ctx in ctx.inputs["review"] ?? .null }
        return try b.build()
    }

    func decide(_ engine: DAGEngine, _ id: String, _ decision: GateDecision, feedback: String? = nil, commandID: String)
        async -> CommandResult
    {
        await engine.submit(
            ClientCommand(commandID: commandID, action: .humanDecision(.init(nodeID: "review", decision: decision, feedback: feedback))),
            runID: id)
    }

    func startAndWaitForGate(_ engine: DAGEngine) async throws -> String {
        let id = try await engine.start(try gateDAG(), runID: "run")
        try await waitForState(engine, id) { $0.node("review")?.status == .waitingHuman }
        let state = try engine.state(runID: id)
        #expect(state.state.waitingGates.map(\.nodeID) == ["review"])
        #expect(state.state.waitingGates.first?.presentation["title"] == "Publish?")
        return id
    }

    @Test func approve() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await startAndWaitForGate(engine)
        let r = await decide(engine, id, .approve, commandID: "c1")
        #expect(r.status == .accepted)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let events = try engine.events(runID: id)
        checkHistory(events)
        let resolved = events.first { $0.event.typeName == "gate_resolved" }
        #expect(resolved?.seq == r.seq)
        #expect(resolved?.event == .gateResolved(.init(nodeID: "review", decision: .approve, commandID: "c1")))
        #expect(try engine.state(runID: id).node("publish")?.output == ["decision": "approve"])
    }

    @Test("modify passes feedback to the gate's output and downstream")
    func modify() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await startAndWaitForGate(engine)
        let r = await decide(engine, id, .modify, feedback: "Shorter, please", commandID: "c1")
        #expect(r.status == .accepted)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let state = try engine.state(runID: id)
        let expected: JSONValue = ["decision": "modify", "feedback": "Shorter, please"]
        #expect(state.node("review")?.output == expected)
        #expect(state.node("publish")?.output == expected)
    }

    @Test("reject skips everything downstream")
    func reject() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await startAndWaitForGate(engine)
        #expect(await decide(engine, id, .reject, commandID: "c1").status == .accepted)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let events = try engine.events(runID: id)
        checkHistory(events)
        #expect(statuses(of: "review", in: events).last == .rejected)
        #expect(statuses(of: "publish", in: events) == [.skipped])
    }

    @Test("the first decision wins; later ones are conflicts, repeats are duplicates")
    func doubleDecision() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await startAndWaitForGate(engine)
        // Submit two decisions concurrently: exactly one is accepted.
        async let first = decide(engine, id, .approve, commandID: "alice")
        async let second = decide(engine, id, .reject, commandID: "bob")
        let results = await [first, second]
        #expect(results.filter { $0.status == .accepted }.count == 1)
        #expect(results.filter { $0.status == .conflict }.count == 1)
        #expect(results.first { $0.status == .conflict }?.reason?.hasPrefix("gate already resolved") == true)
        let repeatAlice = await decide(engine, id, .approve, commandID: "alice")
        #expect(repeatAlice.status == .duplicate)
        let notAGate = await engine.submit(
            ClientCommand(commandID: "x", action: .humanDecision(.init(nodeID: "draft", decision: .approve))), runID: id)
        #expect(notAGate.status == .rejected)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let events = try engine.events(runID: id)
        #expect(events.filter { $0.event.typeName == "gate_resolved" }.count == 1)
    }

    @Test("gate timeout applies its policy")
    func gateTimeout() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.gate("review", presentation: "late?", timeout: GateTimeoutPolicy(after: .milliseconds(20), action: .reject))
        b.task("publish", after: ["review"]) { _ in .null }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        #expect(events.contains { $0.event == .gateResolved(.init(nodeID: "review", decision: .reject)) })
        #expect(events.contains { if case .error(let e) = $0.event { e.code == "gate_timeout" } else { false } })
        #expect(statuses(of: "publish", in: events) == [.skipped])
        let late = await engine.submit(
            ClientCommand(commandID: "late", action: .humanDecision(.init(nodeID: "review", decision: .approve))), runID: "run")
        #expect(late.status == .conflict)
    }

    func costlyChain(onExceeded: BudgetPolicy.OnExceeded) throws -> DAGDefinition {
        var b = DAGBuilder(budget: BudgetPolicy(limit: 1.0, onExceeded: onExceeded), maxConcurrency: 1)
        var previous: [NodeID] = []
        for id in ["a", "b", "c", "d"] {
            b.task(id, after: previous) { ctx in
                await ctx.reportCost(tokens: 100, cost: 0.4)
                return .string(id)
            }
            previous = [id]
        }
        return try b.build()
    }

    @Test("reaching the budget stops the run as budget_exceeded")
    func budgetStop() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let (status, events) = try await runToEnd(engine, try costlyChain(onExceeded: .stop))
        #expect(status == .budgetExceeded)
        checkHistory(events)
        let costs = events.compactMap { if case .costUpdate(let c) = $0.event { c } else { nil } }
        #expect(costs.count == 4)  // initial + a, b, c
        #expect(costs.last?.budget == 1.0)
        #expect(costs.last?.remaining == 0)
        #expect(abs((costs.last?.spent ?? 0) - 1.2) < 1e-9)
        #expect(events.contains { if case .error(let e) = $0.event { e.code == "budget_exceeded" } else { false } })
        let state = try engine.state(runID: "run")
        #expect(state.node("c")?.status == .completed)  // was running: allowed to finish
        #expect(state.node("d")?.status == .cancelled)  // never started
        #expect(state.node("c")?.metrics?.tokens == 100)
        #expect(state.state.status == .budgetExceeded)
    }

    @Test("budget policy pause pauses the run; resume continues it")
    func budgetPause() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await engine.start(try costlyChain(onExceeded: .pause), runID: "run")
        try await waitForState(engine, id) { $0.state.status == .paused && $0.node("c")?.status == .completed }
        #expect(try engine.state(runID: id).node("d")?.status == .ready)
        #expect(await engine.submit(ClientCommand(commandID: "go", action: .resumeExecution), runID: id).status == .accepted)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let events = try engine.events(runID: id)
        checkHistory(events)
        #expect(events.filter { if case .error(let e) = $0.event { e.code == "budget_exceeded" } else { false } }.count == 1)
    }

    @Test func startBeyondMaxLiveRunsIsRefusedUntilOneFinishes() async throws {
        let dir = try TempDirectory()
        let engine = try DAGEngine(configuration: .init(eventLog: .init(path: dir.databasePath, synchronous: .off), maxLiveRuns: 2))
        for name in ["a", "b"] {
            let id = try await engine.start(try gateDAG(), runID: name)
            try await waitForState(engine, id) { $0.node("review")?.status == .waitingHuman }
        }
        let refused = await #expect(throws: DAGEngineError.self) { try await engine.start(try gateDAG(), runID: "c") }
        #expect(refused?.isTooManyLiveRuns == true)
        #expect(refused?.description.contains("2 runs are live") == true, "\(String(describing: refused))")
        // Nothing of the refused run exists.
        #expect(throws: DAGEngineError.self) { try engine.state(runID: "c") }

        #expect(await decide(engine, "a", .approve, commandID: "go").status == .accepted)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: "a") } == .completed)
        let id = try await engine.start(try gateDAG(), runID: "c")
        try await waitForState(engine, id) { $0.node("review")?.status == .waitingHuman }
        await engine.shutdown()
    }
}
