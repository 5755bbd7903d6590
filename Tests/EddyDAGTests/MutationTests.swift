import EddyDAG
import Foundation
import EddyShared
import Testing

@Suite("Live mutations", .timeLimit(.minutes(3)))
struct MutationTests {
    @Test("a running node fans out new nodes feeding an existing join")
    func fanOutWhileRunning() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        var b = DAGBuilder()
        b.task("plan") { ctx in
            var nodes: [NodeDefinition] = []
            var edges: [Edge] = []
            for i in 0..<5 {
                nodes.append(.task("work-\(i)", after: ["plan"]) { _ in .int(Int64(i * i)) })
                edges.append(Edge(from: "work-\(i)", to: "join"))
            }
            let revision = try await ctx.mutate(DAGMutation(addNodes: nodes, addEdges: edges, removeNodes: ["fallback"]))
            return .int(Int64(revision))
        }
        b.task("fallback", after: ["plan"]) { _ in "should be removed" }
        b.task("join", after: ["plan"]) { ctx in .int(Int64(ctx.inputs.count)) }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        checkHistory(events)
        let mutations = events.compactMap { if case .dagMutated(let m) = $0.event { m } else { nil } }
        #expect(mutations.count == 2)
        let m = try #require(mutations.last)
        #expect(m.revision == 2)
        #expect(m.sourceNode == "plan")
        #expect(m.addedNodes.map(\.id) == (0..<5).map { "work-\($0)" })
        #expect(m.removedNodes == ["fallback"])
        #expect(m.addedEdges.count == 10)
        let state = try engine.state(runID: "run")
        #expect(state.state.revision == 2)
        #expect(state.node("plan")?.output == 2)
        #expect(state.node("join")?.output == 6)  // plan + 5 workers
        #expect(state.node("fallback")?.status == .removed)
        #expect(!state.state.edges.contains { $0.from == "fallback" || $0.to == "fallback" })
        #expect((0..<5).allSatisfy { state.node("work-\($0)")?.status == .completed })
    }

    @Test("invalid mutations are refused atomically with precise errors")
    func invalidMutations() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let codes = Counter()
        let collected = ErrorsBox()
        var b = DAGBuilder()
        b.task("other") { _ in .null }
        b.task("m") { ctx in
            let attempts: [DAGMutation] = [
                // not downstream: depends only on "other"
                DAGMutation(addNodes: [.task("x", after: ["other"]) { _ in .null }]),
                // duplicate id
                DAGMutation(addNodes: [.task("other", after: ["m"]) { _ in .null }]),
                // cycle between new nodes
                DAGMutation(addNodes: [
                    .task("p", after: ["m", "q"]) { _ in .null }, .task("q", after: ["p"]) { _ in .null },
                ]),
                // gate without path forward
                DAGMutation(addNodes: [.gate("g", after: ["m"], presentation: "?")]),
                // edge from a node that is not the mutator
                DAGMutation(addEdges: [Edge(from: "other", to: "down")]),
                // removing a node that is not downstream
                DAGMutation(removeNodes: ["other"]),
            ]
            for mutation in attempts {
                do {
                    try await ctx.mutate(mutation)
                } catch let error as DAGValidationError {
                    codes.increment()
                    collected.append(error.code)
                }
            }
            return "done"
        }
        b.task("down", after: ["m"]) { _ in .null }
        let (status, events) = try await runToEnd(engine, try b.build())
        #expect(status == .completed)
        #expect(codes.current == 6)
        #expect(collected.codes == [.mutationNotDownstream, .duplicateID, .cycle, .gateWithoutPathForward, .mutationNotDownstream, .mutationNotDownstream])
        #expect(events.filter { $0.event.typeName == "dag_mutated" }.count == 1)
        #expect(try engine.state(runID: "run").state.nodes.count == 3)
    }
}

final class ErrorsBox: Sendable {
    private let storage = Mutex<[DAGValidationError.Code]>([])
    func append(_ code: DAGValidationError.Code) {
        storage.withLock { $0.append(code) }
    }
    var codes: [DAGValidationError.Code] { storage.withLock { $0 } }
}
