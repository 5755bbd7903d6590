/// Live mutation of the graph by a running node (dynamic fan-out, pruning).
extension RunStateMachine {
    /// Validates and applies `mutation` made by running node `source`; returns the new revision.
    /// Nothing is applied when an error is thrown. See ``DAGMutation`` for the rules.
    mutating func applyMutation(_ mutation: DAGMutation, from source: NodeID, attempt: Int)
        throws(DAGValidationError) -> Int
    {
        guard let src = nodes[source], src.status == .running, src.attempt == attempt, !status.stopsScheduling else {
            throw DAGValidationError(
                .mutationNotAllowed, nodes: [source],
                detail: "node '\(source)' can mutate the DAG only while it is running in a live run")
        }
        let downstream = descendants(of: source)
        var newIDs = Set<NodeID>()
        for n in mutation.addedNodes {
            guard nodes[n.id] == nil, newIDs.insert(n.id).inserted else {
                throw DAGValidationError(.duplicateID, nodes: [n.id], detail: "node id '\(n.id)' is already used")
            }
        }
        let removed = Set(mutation.removedNodes)
        for id in mutation.removedNodes {
            guard let n = nodes[id], n.status == .pending, downstream.contains(id) else {
                throw DAGValidationError(
                    .mutationNotDownstream, nodes: [source, id],
                    detail: "node '\(id)' is not a pending node downstream of '\(source)'")
            }
            for d in n.dependants where !removed.contains(d) && nodes[d]?.status != .removed {
                throw DAGValidationError(
                    .mutationNotAllowed, nodes: [id, d],
                    detail: "cannot remove '\(id)': node '\(d)' depends on it and is not removed")
            }
        }
        // Edges into added nodes become dependencies; edges into existing nodes need checks.
        var extraDependencies: [NodeID: [NodeID]] = [:]
        var edgesToExisting: [Edge] = []
        for e in mutation.addedEdges {
            guard e.from == source || newIDs.contains(e.from) else {
                throw DAGValidationError(
                    .mutationNotDownstream, nodes: [e.from, e.to],
                    detail: "edge \(e.from) -> \(e.to) must start at '\(source)' or at an added node")
            }
            if newIDs.contains(e.to) {
                extraDependencies[e.to, default: []].append(e.from)
            } else {
                guard let t = nodes[e.to], t.status == .pending, downstream.contains(e.to), !removed.contains(e.to) else {
                    throw DAGValidationError(
                        .mutationNotDownstream, nodes: [e.from, e.to],
                        detail: "edge target '\(e.to)' must be an added node or a pending node downstream of '\(source)'")
                }
                edgesToExisting.append(e)
            }
        }
        var added = mutation.addedNodes
        for i in added.indices {
            for dep in extraDependencies[added[i].id] ?? [] where !added[i].dependencies.contains(dep) {
                added[i].dependencies.append(dep)
            }
        }
        try checkReachable(added, from: source)
        // Validate the whole resulting graph exactly like a definition.
        var merged: [NodeDefinition] = []
        merged.reserveCapacity(order.count + added.count)
        for id in order {
            guard var def = nodes[id]?.definition, nodes[id]?.status != .removed, !removed.contains(id) else { continue }
            for e in edgesToExisting where e.to == id { def.dependencies.append(e.from) }
            merged.append(def)
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
        for def in added {
            insert(def)
            for dep in def.dependencies { edges.append(Edge(from: dep, to: def.id)) }
        }
        for e in edgesToExisting {
            nodes[e.to]?.definition.dependencies.append(e.from)
            nodes[e.from]?.dependants.append(e.to)
            nodes[e.to]?.unmetDependencies += 1
            edges.append(e)
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
            pending.removeAll { def in
                if def.dependencies.contains(where: { reached.contains($0) }) {
                    reached.insert(def.id)
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
