import EddyDAG
import Foundation
import Testing

@Suite("Scheduler scenarios", .timeLimit(.minutes(3)))
struct SchedulerTests {
    @Test func chain() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.task("a") { _ in 1 }
        b.task("b", after: ["a"]) { ctx in .int((ctx.inputs["a"]?.intValue ?? 0) + 1) }
        b.task("c", after: ["b"]) { ctx in .int((ctx.inputs["b"]?.intValue ?? 0) + 1) }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        for id in ["a", "b", "c"] { #expect(statuses(of: id, in: events) == [.ready, .running, .completed]) }
        guard case .executionComplete(let done)? = events.last?.event else { throw TestFailure("no completion") }
        #expect(done.results == [.init("a", 1), .init("b", 2), .init("c", 3)])
        #expect(events.first?.event.typeName == "dag_mutated")
    }

    @Test func diamond() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.task("a") { _ in "a" }
        b.task("b", after: ["a"]) { _ in "b" }
        b.task("c", after: ["a"]) { _ in "c" }
        b.task("d", after: ["b", "c"]) { ctx in .array([ctx.inputs["b"] ?? .null, ctx.inputs["c"] ?? .null]) }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        let edges = events.compactMap { if case .edgeActive(let e) = $0.event { e } else { nil } }
        #expect(Set(edges) == [Edge(from: "a", to: "b"), Edge(from: "a", to: "c"), Edge(from: "b", to: "d"), Edge(from: "c", to: "d")])
        let state = try engine.state(runID: "run")
        #expect(state.node("d")?.output == .array(["b", "c"]))
        #expect(state.state.edges.allSatisfy { $0.active })
        // d started only after both b and c completed.
        let seqOf = { (id: String, s: NodeStatus) in
            events.first { if case .nodeState(let n) = $0.event { n.nodeID == id && n.status == s } else { false } }?.seq ?? -1
        }
        #expect(seqOf("d", .running) > seqOf("b", .completed))
        #expect(seqOf("d", .running) > seqOf("c", .completed))
    }

    @Test("wide fan-out of 1,000 nodes respects the concurrency limit")
    func wideFanOut() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let active = Counter()
        var b = DAGBuilder(maxConcurrency: 8)
        b.task("root") { _ in "go" }
        for i in 0..<1_000 {
            b.task("w\(i)", after: ["root"]) { _ in
                active.increment()
                await Task.yield()
                active.decrement()
                return .int(Int64(i))
            }
        }
        b.task("sink", after: (0..<1_000).map { "w\($0)" }) { ctx in .int(Int64(ctx.inputs.count)) }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        #expect(active.peak <= 8)
        let state = try engine.state(runID: "run")
        #expect(state.node("sink")?.output == 1_000)
        #expect(state.state.nodes.allSatisfy { $0.status == .completed })
        #expect(eventsOfType( "edge_active", in: events).count == 2_000)
    }

    @Test("a failure marks dependants upstream_failed; independent nodes still run")
    func failure() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.task("a") { _ in throw TestFailure("HTTP 503") }
        b.task("b", after: ["a"]) { _ in .null }
        b.task("c", after: ["b"]) { _ in .null }
        b.task("x") { _ in "independent" }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .failed)
        checkHistory(events)
        #expect(statuses(of: "a", in: events) == [.ready, .running, .failed])
        #expect(statuses(of: "b", in: events) == [.upstreamFailed])
        #expect(statuses(of: "c", in: events) == [.upstreamFailed])
        #expect(statuses(of: "x", in: events).last == .completed)
        let errors = events.compactMap { if case .error(let e) = $0.event { e } else { nil } }
        #expect(errors.contains { $0.nodeID == "a" && $0.code == "node_failed" && $0.message.contains("HTTP 503") })
    }

    @Test func retryThenSuccess() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let attempts = Counter()
        var b = DAGBuilder()
        b.task("flaky", retry: RetryPolicy(maxAttempts: 3, backoff: .fixed(.milliseconds(1)))) { ctx in
            if attempts.increment() < 3 { throw TestFailure("transient") }
            return .int(Int64(ctx.attempt))
        }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        #expect(statuses(of: "flaky", in: events) == [.ready, .running, .retrying, .running, .retrying, .running, .completed])
        #expect(try engine.state(runID: "run").node("flaky")?.output == 3)
        #expect(try engine.state(runID: "run").node("flaky")?.attempt == 3)
        let attemptErrors = events.filter { if case .error(let e) = $0.event { e.code == "attempt_failed" } else { false } }
        #expect(attemptErrors.count == 2)
    }

    @Test("a timeout cancels the attempt and counts as a failure")
    func timeout() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.task("slow", retry: RetryPolicy(maxAttempts: 2), timeout: .milliseconds(30)) { _ in
            try await Task.sleep(for: .seconds(30))
            return "never"
        }
        b.task("after", after: ["slow"]) { _ in .null }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .failed)
        checkHistory(events)
        #expect(statuses(of: "slow", in: events) == [.ready, .running, .retrying, .running, .failed])
        #expect(statuses(of: "after", in: events) == [.upstreamFailed])
        let errors = events.compactMap { if case .error(let e) = $0.event { e } else { nil } }
        #expect(errors.filter { $0.message.contains("timed out") }.count == 2)
    }

    @Test("pause stops starting nodes, running ones finish; resume continues")
    func pauseResume() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let latch = Latch()
        var b = DAGBuilder(maxConcurrency: 1)
        b.task("a") { _ in
            await latch.wait()
            return "a"
        }
        b.task("b", after: ["a"]) { _ in "b" }
        let id = try await engine.start(try b.build(), runID: "run")
        try await waitForState(engine, id) { $0.node("a")?.status == .running }
        let pause = await engine.submit(ClientCommand(commandID: "p1", action: .pauseExecution), runID: id)
        #expect(pause.status == .accepted)
        #expect(pause.seq != nil)
        latch.open()
        try await waitForState(engine, id) { $0.node("a")?.status == .completed }
        // Paused: b is ready but was not started.
        #expect(try engine.state(runID: id).node("b")?.status == .ready)
        #expect(try engine.state(runID: id).state.status == .paused)
        let again = await engine.submit(ClientCommand(commandID: "p2", action: .pauseExecution), runID: id)
        #expect(again.status == .rejected)
        #expect(again.reason == "execution is already paused")
        let resume = await engine.submit(ClientCommand(commandID: "r1", action: .resumeExecution), runID: id)
        #expect(resume.status == .accepted)
        let resumeTwice = await engine.submit(ClientCommand(commandID: "r2", action: .resumeExecution), runID: id)
        #expect(resumeTwice.status == .rejected)
        let status = try await withDeadline { await engine.waitForCompletion(runID: id) }
        #expect(status == .completed)
        let events = try engine.events(runID: id)
        checkHistory(events)
        let states = events.compactMap { if case .executionState(let s) = $0.event { s.status } else { nil } }
        #expect(states == [.running, .paused, .running])
        let pausedAt = events.first { if case .executionState(let s) = $0.event { s.status == .paused } else { false } }?.seq
        #expect(pausedAt == pause.seq)
        let duplicate = await engine.submit(ClientCommand(commandID: "p1", action: .pauseExecution), runID: id)
        #expect(duplicate.status == .duplicate)
    }

    @Test("cancel mid-run cancels running tasks cooperatively and the rest")
    func cancelMidRun() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let sawCancellation = Counter()
        var b = DAGBuilder()
        b.task("long") { _ in
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                sawCancellation.increment()
                throw error
            }
            return "never"
        }
        b.task("next", after: ["long"]) { _ in .null }
        b.gate("gate", presentation: "waiting")
        b.task("after-gate", after: ["gate"]) { _ in .null }
        let id = try await engine.start(try b.build(), runID: "run")
        try await waitForState(engine, id) { $0.node("long")?.status == .running && $0.node("gate")?.status == .waitingHuman }
        let cancel = await engine.submit(ClientCommand(commandID: "c1", action: .cancelExecution), runID: id)
        #expect(cancel.status == .accepted)
        let status = try await withDeadline { await engine.waitForCompletion(runID: id) }
        #expect(status == .cancelled)
        #expect(sawCancellation.current == 1)
        let events = try engine.events(runID: id)
        checkHistory(events)
        let state = try engine.state(runID: id)
        for node in ["long", "next", "gate", "after-gate"] { #expect(state.node(node)?.status == .cancelled, "\(node)") }
        #expect(state.state.waitingGates.isEmpty)
        let again = await engine.submit(ClientCommand(commandID: "c2", action: .cancelExecution), runID: id)
        #expect(again.status == .rejected)
    }
}
