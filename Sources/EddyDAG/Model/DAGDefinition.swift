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
