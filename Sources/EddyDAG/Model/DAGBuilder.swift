/// A fluent builder for ``DAGDefinition``.
///
/// ```swift
/// var dag = DAGBuilder()
/// dag.task("fetch") { ctx in "page" }
/// dag.task("summarise", after: ["fetch"]) { ctx in ctx.inputs["fetch"] ?? nil }
/// dag.gate("review", after: ["summarise"], presentation: ["title": "Publish?"])
/// dag.task("publish", after: ["review"]) { _ in true }
/// let definition = try dag.build()
/// ```
/// Guarantees: nothing is validated until ``build()``, which reports the first problem found.
public struct DAGBuilder: Sendable {
    public private(set) var nodes: [NodeDefinition] = []
    public var budget: BudgetPolicy = .unlimited
    public var maxConcurrency: Int = 16

    public init(budget: BudgetPolicy = .unlimited, maxConcurrency: Int = 16) {
        self.budget = budget
        self.maxConcurrency = maxConcurrency
    }

    public mutating func add(_ node: NodeDefinition) {
        nodes.append(node)
    }

    public mutating func task(
        _ id: NodeID, after dependencies: [NodeID] = [], retry: RetryPolicy = .none, timeout: Duration? = nil,
        label: String? = nil, _ body: @escaping TaskBody
    ) {
        nodes.append(.task(id, after: dependencies, retry: retry, timeout: timeout, label: label, body))
    }

    public mutating func gate(
        _ id: NodeID, after dependencies: [NodeID] = [], presentation: JSONValue,
        timeout: GateTimeoutPolicy? = nil, label: String? = nil
    ) {
        nodes.append(.gate(id, after: dependencies, presentation: presentation, timeout: timeout, label: label))
    }

    public func build() throws(DAGValidationError) -> DAGDefinition {
        try DAGDefinition(nodes: nodes, budget: budget, maxConcurrency: maxConcurrency)
    }
}
