/// Checks the structural rules of a DAG.
///
/// Guarantees: runs in O(nodes + edges) without recursion (safe on deep graphs); reports, in
/// this order of checks: empty graph, invalid retry policy, duplicate id, unknown dependency,
/// cycle (named in order), gate without a path forward (a gate nothing depends on).
public enum DAGValidator {
    /// Validates `nodes` and returns a topological order of their ids.
    @discardableResult
    public static func validate(_ nodes: [NodeDefinition]) throws(DAGValidationError) -> [NodeID] {
        guard !nodes.isEmpty else { throw DAGValidationError(.emptyGraph, nodes: [], detail: "the graph has no nodes") }
        var index: [NodeID: Int] = [:]
        index.reserveCapacity(nodes.count)
        for (position, node) in nodes.enumerated() {
            if node.retry.maxAttempts < 1 {
                throw DAGValidationError(
                    .invalidRetry, nodes: [node.id], detail: "node '\(node.id)' has max_attempts < 1")
            }
            if index.updateValue(position, forKey: node.id) != nil {
                throw DAGValidationError(.duplicateID, nodes: [node.id], detail: "node id '\(node.id)' is used twice")
            }
        }
        var dependants = [[Int]](repeating: [], count: nodes.count)
        var inDegree = [Int](repeating: 0, count: nodes.count)
        for (position, node) in nodes.enumerated() {
            var seen = Set<NodeID>()
            for dep in node.dependencies where seen.insert(dep).inserted {
                guard let dependencyPosition = index[dep] else {
                    throw DAGValidationError(
                        .unknownDependency, nodes: [node.id, dep],
                        detail: "node '\(node.id)' depends on unknown node '\(dep)'")
                }
                dependants[dependencyPosition].append(position)
                inDegree[position] += 1
            }
        }
        // Kahn's algorithm.
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        var remaining = inDegree
        for position in 0..<nodes.count where remaining[position] == 0 { order.append(position) }
        var head = 0
        while head < order.count {
            let position = order[head]
            head += 1
            for dependant in dependants[position] {
                remaining[dependant] -= 1
                if remaining[dependant] == 0 { order.append(dependant) }
            }
        }
        if order.count < nodes.count {
            let cycle = findCycle(nodes: nodes, index: index, remaining: remaining)
            throw DAGValidationError(
                .cycle, nodes: cycle, detail: "the graph has a cycle: " + cycle.joined(separator: " -> "))
        }
        for (position, node) in nodes.enumerated() where node.isGate && dependants[position].isEmpty {
            throw DAGValidationError(
                .gateWithoutPathForward, nodes: [node.id],
                detail: "human gate '\(node.id)' has no dependants, so its decision leads nowhere")
        }
        return order.map { nodes[$0].id }
    }

    /// Every node left over by Kahn's algorithm has a leftover dependency, so walking leftover
    /// dependencies from any leftover node must revisit a node: that walk contains a cycle.
    private static func findCycle(nodes: [NodeDefinition], index: [NodeID: Int], remaining: [Int]) -> [NodeID] {
        guard var current = remaining.firstIndex(where: { $0 > 0 }) else { return [] }
        var position: [Int: Int] = [:]
        var path: [Int] = []
        while position[current] == nil {
            position[current] = path.count
            path.append(current)
            guard let next = nodes[current].dependencies.lazy.compactMap({ index[$0] }).first(where: { remaining[$0] > 0 })
            else { return path.map { nodes[$0].id } }
            current = next
        }
        // path[start...] walks dependencies (child -> parent); report it in edge direction (parent -> child).
        let start = position[current] ?? 0
        var cycle = path[start...].map { nodes[$0].id }.reversed() as [NodeID]
        if let first = cycle.first { cycle.append(first) }
        return cycle
    }
}
