/// Encodes protocol messages to their canonical JSON bytes.
///
/// Guarantees: deterministic output. Keys appear in the order documented in `docs/protocol.md`
/// (envelope `v, type, dag_id, epoch, seq, ts`, then the payload fields in declaration order);
/// optional fields that are `nil` are omitted, except `cost_update.budget`/`remaining` which are
/// always present (`null` when unlimited); numbers and strings follow ``JSONWriter``.
public enum ProtocolEncoder {
    public static func encode(_ envelope: EventEnvelope) -> [UInt8] {
        EnvelopeEncodingCounter.record(envelope)
        var writer = JSONWriter(reservingCapacity: 320)
        write(envelope, into: &writer)
        return writer.bytes
    }

    public static func write(_ envelope: EventEnvelope, into writer: inout JSONWriter) {
        writer.writeRaw("{\"v\":")
        writer.writeInt(EventEnvelope.protocolVersion)
        writer.writeRaw(",\"type\":")
        writer.writeString(envelope.event.typeName)
        writer.writeRaw(",\"dag_id\":")
        writer.writeString(envelope.dagID)
        writer.writeRaw(",\"epoch\":")
        writer.writeInt(envelope.epoch)
        writer.writeRaw(",\"seq\":")
        writer.writeInt(envelope.seq)
        writer.writeRaw(",\"ts\":")
        writer.writeInt(envelope.ts)
        var first = false
        writePayload(envelope.event, into: &writer, first: &first)
        writer.writeRaw("}")
    }

    public static func encode(_ command: ClientCommand) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 96)
        writer.writeRaw("{\"v\":")
        writer.writeInt(EventEnvelope.protocolVersion)
        writer.writeRaw(",\"type\":")
        writer.writeString(command.action.typeName)
        writer.writeRaw(",\"command_id\":")
        writer.writeString(command.commandID)
        var first = false
        if case .humanDecision(let humanDecision) = command.action {
            writer.key("node_id", first: &first)
            writer.writeString(humanDecision.nodeID)
            writer.key("decision", first: &first)
            writer.writeString(humanDecision.decision.rawValue)
            if let feedback = humanDecision.feedback {
                writer.key("feedback", first: &first)
                writer.writeString(feedback)
            }
        }
        writer.writeRaw("}")
        return writer.bytes
    }

    private static func writePayload(_ event: ServerEvent, into writer: inout JSONWriter, first: inout Bool) {
        switch event {
        case .nodeState(let nodeState):
            writer.key("node_id", first: &first)
            writer.writeString(nodeState.nodeID)
            writer.key("status", first: &first)
            writer.writeString(nodeState.status.rawValue)
            if let attempt = nodeState.attempt {
                writer.key("attempt", first: &first)
                writer.writeInt(attempt)
            }
            if let output = nodeState.output {
                writer.key("output", first: &first)
                writer.write(output)
            }
            if let metrics = nodeState.metrics {
                writer.key("metrics", first: &first)
                write(metrics, into: &writer)
            }
        case .edgeActive(let edge):
            writer.key("from", first: &first)
            writer.writeString(edge.from)
            writer.key("to", first: &first)
            writer.writeString(edge.to)
        case .dagMutated(let mutation):
            writer.key("mutation", first: &first)
            write(mutation, into: &writer)
        case .costUpdate(let update):
            if let nodeID = update.nodeID {
                writer.key("node_id", first: &first)
                writer.writeString(nodeID)
            }
            writeCost(spent: update.spent, budget: update.budget, remaining: update.remaining, into: &writer, first: &first)
        case .executionComplete(let completion):
            writer.key("status", first: &first)
            writer.writeString(completion.status.rawValue)
            writer.key("results", first: &first)
            writer.write(.object(completion.results))
        case .humanGateWaiting(let gate):
            writer.key("node_id", first: &first)
            writer.writeString(gate.nodeID)
            writer.key("presentation", first: &first)
            writer.write(gate.presentation)
        case .gateResolved(let resolution):
            writer.key("node_id", first: &first)
            writer.writeString(resolution.nodeID)
            writer.key("decision", first: &first)
            writer.writeString(resolution.decision.rawValue)
            if let feedback = resolution.feedback {
                writer.key("feedback", first: &first)
                writer.writeString(feedback)
            }
            if let commandID = resolution.commandID {
                writer.key("command_id", first: &first)
                writer.writeString(commandID)
            }
        case .error(let errorEvent):
            if let nodeID = errorEvent.nodeID {
                writer.key("node_id", first: &first)
                writer.writeString(nodeID)
            }
            writer.key("code", first: &first)
            writer.writeString(errorEvent.code)
            writer.key("message", first: &first)
            writer.writeString(errorEvent.message)
        case .executionState(let state):
            writer.key("status", first: &first)
            writer.writeString(state.status.rawValue)
            if let reason = state.reason {
                writer.key("reason", first: &first)
                writer.writeString(reason)
            }
        case .snapshot(let snapshot):
            write(snapshot, into: &writer, first: &first)
        case .commandResult(let result):
            writer.key("command_id", first: &first)
            writer.writeString(result.commandID)
            writer.key("status", first: &first)
            writer.writeString(result.status.rawValue)
            if let reason = result.reason {
                writer.key("reason", first: &first)
                writer.writeString(reason)
            }
        case .heartbeat:
            break
        }
    }

    private static func writeCost(
        spent: Double, budget: Double?, remaining: Double?, into writer: inout JSONWriter, first: inout Bool
    ) {
        writer.key("spent", first: &first)
        writer.writeDouble(spent)
        writer.key("budget", first: &first)
        if let budget { writer.writeDouble(budget) } else { writer.writeRaw("null") }
        writer.key("remaining", first: &first)
        if let remaining { writer.writeDouble(remaining) } else { writer.writeRaw("null") }
    }

    static func write(_ metrics: NodeMetrics, into writer: inout JSONWriter) {
        var first = true
        writer.writeRaw("{")
        if let tokens = metrics.tokens {
            writer.key("tokens", first: &first)
            writer.writeInt(tokens)
        }
        if let cost = metrics.cost {
            writer.key("cost", first: &first)
            writer.writeDouble(cost)
        }
        if let durationMs = metrics.durationMs {
            writer.key("duration_ms", first: &first)
            writer.writeInt(durationMs)
        }
        writer.writeRaw("}")
    }

    private static func write(_ mutation: ServerEvent.GraphMutation, into writer: inout JSONWriter) {
        var first = true
        writer.writeRaw("{")
        writer.key("revision", first: &first)
        writer.writeInt(mutation.revision)
        if let sourceNode = mutation.sourceNode {
            writer.key("source_node", first: &first)
            writer.writeString(sourceNode)
        }
        writer.key("added_nodes", first: &first)
        writer.writeRaw("[")
        for (index, node) in mutation.addedNodes.enumerated() {
            if index > 0 { writer.writeRaw(",") }
            var firstNodeKey = true
            writer.writeRaw("{")
            writeNodeIdentity(id: node.id, kind: node.kind, label: node.label, into: &writer, first: &firstNodeKey)
            writer.writeRaw("}")
        }
        writer.writeRaw("]")
        writer.key("added_edges", first: &first)
        writeEdges(mutation.addedEdges.map { DAGSnapshot.EdgeState(from: $0.from, to: $0.to) }, withActive: false, into: &writer)
        writer.key("removed_nodes", first: &first)
        writer.write(.array(mutation.removedNodes.map { .string($0) }))
        writer.writeRaw("}")
    }

    /// The keys a node object starts with in `dag_mutated` and in `snapshot`: `id`, `kind`, `label?`.
    private static func writeNodeIdentity(
        id: NodeID, kind: NodeKind, label: String?, into writer: inout JSONWriter, first: inout Bool
    ) {
        writer.key("id", first: &first)
        writer.writeString(id)
        writer.key("kind", first: &first)
        writer.writeString(kind.rawValue)
        if let label {
            writer.key("label", first: &first)
            writer.writeString(label)
        }
    }

    private static func writeEdges(_ edges: [DAGSnapshot.EdgeState], withActive: Bool, into writer: inout JSONWriter) {
        writer.writeRaw("[")
        for (index, edge) in edges.enumerated() {
            if index > 0 { writer.writeRaw(",") }
            writer.writeRaw("{\"from\":")
            writer.writeString(edge.from)
            writer.writeRaw(",\"to\":")
            writer.writeString(edge.to)
            if withActive {
                writer.writeRaw(",\"active\":")
                writer.writeRaw(edge.active ? "true" : "false")
            }
            writer.writeRaw("}")
        }
        writer.writeRaw("]")
    }

    private static func write(_ snapshot: DAGSnapshot, into writer: inout JSONWriter, first: inout Bool) {
        writer.key("status", first: &first)
        writer.writeString(snapshot.status.rawValue)
        writer.key("revision", first: &first)
        writer.writeInt(snapshot.revision)
        writer.key("nodes", first: &first)
        writer.writeRaw("[")
        for (index, node) in snapshot.nodes.enumerated() {
            if index > 0 { writer.writeRaw(",") }
            var firstNodeKey = true
            writer.writeRaw("{")
            writeNodeIdentity(id: node.id, kind: node.kind, label: node.label, into: &writer, first: &firstNodeKey)
            writer.key("status", first: &firstNodeKey)
            writer.writeString(node.status.rawValue)
            writer.key("attempt", first: &firstNodeKey)
            writer.writeInt(node.attempt)
            if let output = node.output {
                writer.key("output", first: &firstNodeKey)
                writer.write(output)
            }
            if let metrics = node.metrics {
                writer.key("metrics", first: &firstNodeKey)
                write(metrics, into: &writer)
            }
            writer.writeRaw("}")
        }
        writer.writeRaw("]")
        writer.key("edges", first: &first)
        writeEdges(snapshot.edges, withActive: true, into: &writer)
        writer.key("cost", first: &first)
        var firstCostKey = true
        writer.writeRaw("{")
        writeCost(spent: snapshot.cost.spent, budget: snapshot.cost.budget, remaining: snapshot.cost.remaining, into: &writer, first: &firstCostKey)
        writer.writeRaw("}")
        writer.key("waiting_gates", first: &first)
        writer.writeRaw("[")
        for (index, gate) in snapshot.waitingGates.enumerated() {
            if index > 0 { writer.writeRaw(",") }
            writer.writeRaw("{\"node_id\":")
            writer.writeString(gate.nodeID)
            writer.writeRaw(",\"presentation\":")
            writer.write(gate.presentation)
            writer.writeRaw("}")
        }
        writer.writeRaw("]")
        if let results = snapshot.results {
            writer.key("results", first: &first)
            writer.write(.object(results))
        }
    }
}
