/// Live mutation of the graph by a running node (dynamic fan-out, pruning).
extension RunStateMachine {
    /// Validates and applies `mutation` made by running node `source`; returns the new revision.
    /// Nothing is applied when an error is thrown. See ``DAGMutation`` for the rules.
    mutating func applyMutation(_ mutation: DAGMutation, from source: NodeID, attempt: Int)
        throws(DAGValidationError) -> Int
    {
        guard let sourceNode = nodes[source], sourceNode.status == .running, sourceNode.attempt == attempt, !status.stopsScheduling else {
            throw DAGValidationError(
                .mutationNotAllowed, nodes: [source],
                detail: "node '\(source)' can mutate the DAG only while it is running in a live run")
        }
        let downstream = descendants(of: source)
        var newIDs = Set<NodeID>()
        for node in mutation.addedNodes {
            guard nodes[node.id] == nil, newIDs.insert(node.id).inserted else {
                throw DAGValidationError(.duplicateID, nodes: [node.id], detail: "node id '\(node.id)' is already used")
            }
        }
        let removed = Set(mutation.removedNodes)
        for id in mutation.removedNodes {
            guard let node = nodes[id], node.status == .pending, downstream.contains(id) else {
                throw DAGValidationError(
                    .mutationNotDownstream, nodes: [source, id],
                    detail: "node '\(id)' is not a pending node downstream of '\(source)'")
            }
            for dependant in node.dependants where !removed.contains(dependant) && nodes[dependant]?.status != .removed {
                throw DAGValidationError(
                    .mutationNotAllowed, nodes: [id, dependant],
                    detail: "cannot remove '\(id)': node '\(dependant)' depends on it and is not removed")
            }
        }
        // Edges into added nodes become dependencies; edges into existing nodes need checks.
        var extraDependencies: [NodeID: [NodeID]] = [:]
        var edgesToExisting: [Edge] = []
        for edge in mutation.addedEdges {
            guard edge.from == source || newIDs.contains(edge.from) else {
                throw DAGValidationError(
                    .mutationNotDownstream, nodes: [edge.from, edge.to],
                    detail: "edge \(edge.from) -> \(edge.to) must start at '\(source)' or at an added node")
            }
            if newIDs.contains(edge.to) {
                extraDependencies[edge.to, default: []].append(edge.from)
            } else {
                guard let target = nodes[edge.to], target.status == .pending, downstream.contains(edge.to), !removed.contains(edge.to) else {
                    throw DAGValidationError(
                        .mutationNotDownstream, nodes: [edge.from, edge.to],
                        detail: "edge target '\(edge.to)' must be an added node or a pending node downstream of '\(source)'")
                }
                edgesToExisting.append(edge)
            }
        }
        var added = mutation.addedNodes
        for index in added.indices {
            for dep in extraDependencies[added[index].id] ?? [] where !added[index].dependencies.contains(dep) {
                added[index].dependencies.append(dep)
            }
        }
        try checkReachable(added, from: source)
        // Validate the whole resulting graph exactly like a definition.
        var merged: [NodeDefinition] = []
        merged.reserveCapacity(order.count + added.count)
        for id in order {
            guard var definition = nodes[id]?.definition, nodes[id]?.status != .removed, !removed.contains(id) else { continue }
            for edge in edgesToExisting where edge.to == id { definition.dependencies.append(edge.from) }
            merged.append(definition)
        }
        merged.append(contentsOf: added)
        try DAGValidator.validate(merged)

        // Apply.
        revision += 1
        for id in mutation.removedNodes {
            transition(id, to: .removed, announce: false)
            for dep in nodes[id]?.definition.dependencies ?? [] {
                nodes[dep]?.dependants.removeAll { $0 == id }
            }
        }
        var edges: [Edge] = []
        for definition in added {
            insert(definition)
            for dep in definition.dependencies { edges.append(Edge(from: dep, to: definition.id)) }
        }
        for edge in edgesToExisting {
            nodes[edge.to]?.definition.dependencies.append(edge.from)
            nodes[edge.from]?.dependants.append(edge.to)
            nodes[edge.to]?.unmetDependencies += 1
            edges.append(edge)
        }
        let infos = added.map { ServerEvent.NodeInfo(id: $0.id, kind: $0.kindName, label: $0.label) }
        emit(.dagMutated(ServerEvent.GraphMutation(
            revision: revision, sourceNode: source, addedNodes: infos, addedEdges: edges,
            removedNodes: mutation.removedNodes)))
        return revision
    }

    /// Every node reachable from `root` through dependants (excluding `root`).
    private func descendants(of root: NodeID) -> Set<NodeID> {
        var seen = Set<NodeID>()
        var stack = nodes[root]?.dependants ?? []
        while let id = stack.popLast() {
            if seen.insert(id).inserted { stack.append(contentsOf: nodes[id]?.dependants ?? []) }
        }
        return seen
    }

    /// Every added node must depend, directly or through other added nodes, on `source`.
    private func checkReachable(_ added: [NodeDefinition], from source: NodeID) throws(DAGValidationError) {
        var reached: Set<NodeID> = [source]
        var pending = added
        var progress = true
        while progress && !pending.isEmpty {
            progress = false
            pending.removeAll { definition in
                if definition.dependencies.contains(where: { reached.contains($0) }) {
                    reached.insert(definition.id)
                    progress = true
                    return true
                }
                return false
            }
        }
        if let stray = pending.first {
            throw DAGValidationError(
                .mutationNotDownstream, nodes: [stray.id],
                detail: "added node '\(stray.id)' is not downstream of '\(source)'")
        }
    }
}
