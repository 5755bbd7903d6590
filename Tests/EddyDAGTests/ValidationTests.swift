import EddyDAG
import Testing

@Suite("Definition validation")
struct ValidationTests {
    let noop: TaskBody = { _ in .null }

    @Test func emptyGraph() {
        #expect { try DAGBuilder().build() } throws: { ($0 as? DAGValidationError)?.code == .emptyGraph }
    }

    @Test func duplicateID() {
        var b = DAGBuilder()
        b.task("a", noop)
        b.task("a", noop)
        #expect { try b.build() } throws: { ($0 as? DAGValidationError)?.nodes == ["a"] && ($0 as? DAGValidationError)?.code == .duplicateID }
    }

    @Test func unknownDependency() {
        var b = DAGBuilder()
        b.task("a", after: ["ghost"], noop)
        #expect { try b.build() } throws: { e in
            guard let e = e as? DAGValidationError else { return false }
            return e.code == .unknownDependency && e.nodes == ["a", "ghost"] && e.description.contains("ghost")
        }
    }

    @Test("a cycle is named in edge order")
    func cycleIsNamed() {
        var b = DAGBuilder()
        b.task("start", noop)
        b.task("a", after: ["start", "c"], noop)
        b.task("b", after: ["a"], noop)
        b.task("c", after: ["b"], noop)
        b.task("after", after: ["c"], noop)
        #expect { try b.build() } throws: { e in
            guard let e = e as? DAGValidationError, e.code == .cycle else { return false }
            // The cycle a -> b -> c -> a, starting anywhere on it, first node repeated at the end.
            guard e.nodes.count == 4, e.nodes.first == e.nodes.last else { return false }
            let ring = Array(e.nodes.dropLast())
            let rotations = [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
            return rotations.contains(ring) && e.description.contains(" -> ")
        }
    }

    @Test func selfLoopIsACycle() {
        var b = DAGBuilder()
        b.task("a", after: ["a"], noop)
        #expect { try b.build() } throws: { ($0 as? DAGValidationError)?.nodes == ["a", "a"] }
    }

    @Test func gateWithoutPathForward() {
        var b = DAGBuilder()
        b.task("a", noop)
        b.gate("approve", after: ["a"], presentation: "ok?")
        #expect { try b.build() } throws: { ($0 as? DAGValidationError)?.code == .gateWithoutPathForward }
    }

    @Test func invalidRetry() {
        var b = DAGBuilder()
        b.task("a", retry: RetryPolicy(maxAttempts: 0), noop)
        #expect { try b.build() } throws: { ($0 as? DAGValidationError)?.code == .invalidRetry }
    }

    @Test func exponentialBackoffIsCapped() {
        let p = RetryPolicy(maxAttempts: 10, backoff: .exponential(initial: .milliseconds(100), multiplier: 2, maximum: .milliseconds(500)))
        #expect(p.delay(afterAttempt: 1) == .milliseconds(100))
        #expect(p.delay(afterAttempt: 2) == .milliseconds(200))
        #expect(p.delay(afterAttempt: 3) == .milliseconds(400))
        #expect(p.delay(afterAttempt: 4) == .milliseconds(500))
        #expect(p.delay(afterAttempt: 9) == .milliseconds(500))
    }

    @Test func loadsJSONDefinition() throws {
        var handlers = HandlerRegistry()
        handlers.register("fetch") { _ in "page" }
        handlers.register("publish") { _ in true }
        let json = """
            {"budget":{"limit":2.5,"on_exceeded":"pause"},"max_concurrency":3,"nodes":[
              {"id":"fetch","handler":"fetch","retry":{"max_attempts":3,"backoff_ms":100,"multiplier":2,"max_backoff_ms":1000},"timeout_ms":5000},
              {"id":"review","depends_on":["fetch"],"gate":{"presentation":{"title":"OK?"},"timeout_ms":60000,"on_timeout":"approve"}},
              {"id":"publish","handler":"publish","depends_on":["review"],"label":"Publish"}]}
            """
        let def = try DAGDefinition(json: Array(json.utf8), handlers: handlers)
        #expect(def.nodes.map(\.id) == ["fetch", "review", "publish"])
        #expect(def.budget == BudgetPolicy(limit: 2.5, onExceeded: .pause))
        #expect(def.maxConcurrency == 3)
        #expect(def.nodes[0].retry.maxAttempts == 3)
        #expect(def.nodes[0].timeout == .seconds(5))
        #expect(def.nodes[1].kindName == .humanGate)
        #expect(def.nodes[2].label == "Publish")
    }

    @Test func jsonDefinitionErrors() {
        let handlers = HandlerRegistry()
        #expect { try DAGDefinition(json: Array(#"{"nodes":[{"id":"a","handler":"nope"}]}"#.utf8), handlers: handlers) }
            throws: { ($0 as? DAGValidationError)?.code == .unknownHandler }
        #expect { try DAGDefinition(json: Array("{".utf8), handlers: handlers) }
            throws: { ($0 as? DAGValidationError)?.code == .invalidDefinition }
        #expect { try DAGDefinition(json: Array(#"{"nodes":[{"id":"a"}]}"#.utf8), handlers: handlers) }
            throws: { ($0 as? DAGValidationError)?.code == .invalidDefinition }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String { "\"n\" must be positive" }
    }

    @Test func handlerFactoriesSeeEachNodesParamsAndMayRefuseThem() async throws {
        var handlers = HandlerRegistry()
        handlers.register("repeat", configured: { params in
            guard let n = params["n"]?.intValue, n > 0 else { throw Refusal() }
            return { _ in .string(String(repeating: "x", count: Int(n))) }
        })
        let json = #"{"nodes":[{"id":"a","handler":"repeat","params":{"n":2}},{"id":"b","handler":"repeat","params":{"n":3},"depends_on":["a"]}]}"#
        let (engine, dir) = try makeEngine()
        _ = dir
        let (status, _) = try await runToEnd(engine, try DAGDefinition(json: Array(json.utf8), handlers: handlers))
        #expect(status == .completed)
        let state = try engine.state(runID: "run")
        #expect(state.node("a")?.output == "xx")
        #expect(state.node("b")?.output == "xxx")
        await engine.shutdown()

        let refused = #"{"nodes":[{"id":"a","handler":"repeat","params":{"n":0}}]}"#
        #expect { try DAGDefinition(json: Array(refused.utf8), handlers: handlers) } throws: { error in
            guard let error = error as? DAGValidationError else { return false }
            return error.code == .invalidDefinition && error.nodes == ["a"]
                && error.detail == #"node 'a': handler 'repeat': "n" must be positive"#
        }
        #expect { try DAGDefinition(json: Array(#"{"nodes":[{"id":"a","handler":"nope"}]}"#.utf8), handlers: handlers) } throws: { error in
            (error as? DAGValidationError)?.detail == "node 'a' names unknown handler 'nope' (known: repeat)"
        }
    }
}
