/// A validated workflow: nodes (with their dependencies), a budget and a concurrency limit.
///
/// Guarantees: a `DAGDefinition` can only be created through ``init(nodes:budget:maxConcurrency:)``,
/// ``DAGBuilder`` or ``init(json:handlers:)``, all of which run ``DAGValidator``; an existing value
/// is therefore always acyclic, non-empty, with unique ids, known dependencies and gates that
/// lead somewhere. Node order is preserved (it is the order of the initial `dag_mutated`).
public struct DAGDefinition: Sendable {
    public let nodes: [NodeDefinition]
    public let budget: BudgetPolicy
    /// Maximum number of task nodes running at once (waiting gates do not count). At least 1.
    public let maxConcurrency: Int

    public init(nodes: [NodeDefinition], budget: BudgetPolicy = .unlimited, maxConcurrency: Int = 16)
        throws(DAGValidationError)
    {
        guard maxConcurrency >= 1 else {
            throw DAGValidationError(.invalidDefinition, nodes: [], detail: "max_concurrency must be at least 1")
        }
        try DAGValidator.validate(nodes)
        self.nodes = nodes
        self.budget = budget
        self.maxConcurrency = maxConcurrency
    }
}

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
