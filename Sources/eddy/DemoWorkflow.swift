import EddyDAG

/// The demo's research-agent pipeline, with simulated timings and costs: a planner that
/// adds the rest of the graph at run time (a mutation), three model calls that report
/// token costs against a budget, a synthesis step, a human approval gate (auto-approved
/// after `gateTimeout` so the demo keeps cycling), and a publish step.
enum DemoWorkflow {
    static func definition(gateTimeout: Duration = .seconds(120), pace: Duration = .milliseconds(700)) throws -> DAGDefinition {
        var builder = DAGBuilder(budget: BudgetPolicy(limit: 1.0), maxConcurrency: 4)
        builder.task("plan", label: "Plan the research") { context in
            try await Task.sleep(for: pace)
            await context.reportCost(tokens: 800, cost: 0.008)
            let topics = ["pricing", "competitors", "regulation"]
            var nodes: [NodeDefinition] = topics.map { topic in
                .task("research-\(topic)", after: ["plan"], label: "Research \(topic)") { context in
                    for step in 1...3 {
                        try await Task.sleep(for: pace)
                        try context.checkCancellation()
                        await context.reportCost(tokens: 1200, cost: 0.012)
                        await context.progress(["step": .int(Int64(step)), "of": 3])
                    }
                    return .string("notes on \(topic)")
                }
            }
            nodes.append(.task("synthesize", after: topics.map { "research-\($0)" }, label: "Synthesize a report") { context in
                try await Task.sleep(for: pace * 2)
                await context.reportCost(tokens: 4000, cost: 0.04)
                return .string("draft report from \(context.inputs.count) notes")
            })
            nodes.append(.gate("review", after: ["synthesize"], presentation: [
                "title": "Publish this report?",
                "summary": "Three research notes synthesised into one draft.",
            ], timeout: GateTimeoutPolicy(after: gateTimeout, action: .approve), label: "Human review"))
            nodes.append(.task("publish", after: ["review"], label: "Publish") { context in
                try await Task.sleep(for: pace)
                return .string("published")
            })
            _ = try await context.mutate(DAGMutation(addNodes: nodes))
            return ["topics": .array(topics.map { .string($0) })]
        }
        return try builder.build()
    }
}
