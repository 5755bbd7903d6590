/// Encodes protocol messages to their canonical JSON bytes.
///
/// Guarantees: deterministic output. Keys appear in the order documented in `docs/protocol.md`
/// (envelope `v, type, dag_id, epoch, seq, ts`, then the payload fields in declaration order);
/// optional fields that are `nil` are omitted, except `cost_update.budget`/`remaining` which are
/// always present (`null` when unlimited); numbers and strings follow ``JSONWriter``.
public enum ProtocolEncoder {
    public static func encode(_ envelope: EventEnvelope) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 320)
        write(envelope, into: &w)
        return w.bytes
    }

    public static func write(_ envelope: EventEnvelope, into w: inout JSONWriter) {
        w.writeRaw("{\"v\":")
        w.writeInt(EventEnvelope.protocolVersion)
        w.writeRaw(",\"type\":")
        w.writeString(envelope.event.typeName)
        w.writeRaw(",\"dag_id\":")
        w.writeString(envelope.dagID)
        w.writeRaw(",\"epoch\":")
        w.writeInt(envelope.epoch)
        w.writeRaw(",\"seq\":")
        w.writeInt(envelope.seq)
        w.writeRaw(",\"ts\":")
        w.writeInt(envelope.ts)
        var first = false
        writePayload(envelope.event, into: &w, first: &first)
        w.writeRaw("}")
    }

    public static func encode(_ command: ClientCommand) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 96)
        w.writeRaw("{\"v\":")
        w.writeInt(EventEnvelope.protocolVersion)
        w.writeRaw(",\"type\":")
        w.writeString(command.action.typeName)
        w.writeRaw(",\"command_id\":")
        w.writeString(command.commandID)
        var first = false
        if case .humanDecision(let d) = command.action {
            w.key("node_id", first: &first)
            w.writeString(d.nodeID)
            w.key("decision", first: &first)
            w.writeString(d.decision.rawValue)
            if let f = d.feedback {
                w.key("feedback", first: &first)
                w.writeString(f)
            }
        }
        w.writeRaw("}")
        return w.bytes
    }

    private static func writePayload(_ event: ServerEvent, into w: inout JSONWriter, first: inout Bool) {
        switch event {
        case .nodeState(let e):
            w.key("node_id", first: &first)
            w.writeString(e.nodeID)
            w.key("status", first: &first)
            w.writeString(e.status.rawValue)
            if let a = e.attempt {
                w.key("attempt", first: &first)
                w.writeInt(a)
            }
            if let o = e.output {
                w.key("output", first: &first)
                w.write(o)
            }
            if let m = e.metrics {
                w.key("metrics", first: &first)
                write(m, into: &w)
            }
        case .edgeActive(let e):
            w.key("from", first: &first)
            w.writeString(e.from)
            w.key("to", first: &first)
            w.writeString(e.to)
        case .dagMutated(let m):
            w.key("mutation", first: &first)
            write(m, into: &w)
        case .costUpdate(let c):
            if let n = c.nodeID {
                w.key("node_id", first: &first)
                w.writeString(n)
            }
            writeCost(spent: c.spent, budget: c.budget, remaining: c.remaining, into: &w, first: &first)
        case .executionComplete(let c):
            w.key("status", first: &first)
            w.writeString(c.status.rawValue)
            w.key("results", first: &first)
            w.write(.object(c.results))
        case .humanGateWaiting(let g):
            w.key("node_id", first: &first)
            w.writeString(g.nodeID)
            w.key("presentation", first: &first)
            w.write(g.presentation)
        case .gateResolved(let g):
            w.key("node_id", first: &first)
            w.writeString(g.nodeID)
            w.key("decision", first: &first)
            w.writeString(g.decision.rawValue)
            if let f = g.feedback {
                w.key("feedback", first: &first)
                w.writeString(f)
            }
            if let c = g.commandID {
                w.key("command_id", first: &first)
                w.writeString(c)
            }
        case .error(let e):
            if let n = e.nodeID {
                w.key("node_id", first: &first)
                w.writeString(n)
            }
            w.key("code", first: &first)
            w.writeString(e.code)
            w.key("message", first: &first)
            w.writeString(e.message)
        case .executionState(let s):
            w.key("status", first: &first)
            w.writeString(s.status.rawValue)
            if let r = s.reason {
                w.key("reason", first: &first)
                w.writeString(r)
            }
        case .snapshot(let s):
            write(s, into: &w, first: &first)
        case .commandResult(let r):
            w.key("command_id", first: &first)
            w.writeString(r.commandID)
            w.key("status", first: &first)
            w.writeString(r.status.rawValue)
            if let reason = r.reason {
                w.key("reason", first: &first)
                w.writeString(reason)
            }
        case .heartbeat:
            break
        }
    }

    private static func writeCost(
        spent: Double, budget: Double?, remaining: Double?, into w: inout JSONWriter, first: inout Bool
    ) {
        w.key("spent", first: &first)
        w.writeDouble(spent)
        w.key("budget", first: &first)
        if let b = budget { w.writeDouble(b) } else { w.writeRaw("null") }
        w.key("remaining", first: &first)
        if let r = remaining { w.writeDouble(r) } else { w.writeRaw("null") }
    }

    static func write(_ m: NodeMetrics, into w: inout JSONWriter) {
        var first = true
        w.writeRaw("{")
        if let t = m.tokens {
            w.key("tokens", first: &first)
            w.writeInt(t)
        }
        if let c = m.cost {
            w.key("cost", first: &first)
            w.writeDouble(c)
        }
        if let d = m.durationMs {
            w.key("duration_ms", first: &first)
            w.writeInt(d)
        }
        w.writeRaw("}")
    }

    private static func write(_ m: ServerEvent.GraphMutation, into w: inout JSONWriter) {
        var first = true
        w.writeRaw("{")
        w.key("revision", first: &first)
        w.writeInt(m.revision)
        if let s = m.sourceNode {
            w.key("source_node", first: &first)
            w.writeString(s)
        }
        w.key("added_nodes", first: &first)
        w.writeRaw("[")
        for (i, n) in m.addedNodes.enumerated() {
            if i > 0 { w.writeRaw(",") }
            var f = true
            w.writeRaw("{")
            w.key("id", first: &f)
            w.writeString(n.id)
            w.key("kind", first: &f)
            w.writeString(n.kind.rawValue)
            if let l = n.label {
                w.key("label", first: &f)
                w.writeString(l)
            }
            w.writeRaw("}")
        }
        w.writeRaw("]")
        w.key("added_edges", first: &first)
        writeEdges(m.addedEdges.map { DAGSnapshot.EdgeState(from: $0.from, to: $0.to) }, withActive: false, into: &w)
        w.key("removed_nodes", first: &first)
        w.write(.array(m.removedNodes.map { .string($0) }))
        w.writeRaw("}")
    }

    private static func writeEdges(_ edges: [DAGSnapshot.EdgeState], withActive: Bool, into w: inout JSONWriter) {
        w.writeRaw("[")
        for (i, e) in edges.enumerated() {
            if i > 0 { w.writeRaw(",") }
            w.writeRaw("{\"from\":")
            w.writeString(e.from)
            w.writeRaw(",\"to\":")
            w.writeString(e.to)
            if withActive {
                w.writeRaw(",\"active\":")
                w.writeRaw(e.active ? "true" : "false")
            }
            w.writeRaw("}")
        }
        w.writeRaw("]")
    }

    private static func write(_ s: DAGSnapshot, into w: inout JSONWriter, first: inout Bool) {
        w.key("status", first: &first)
        w.writeString(s.status.rawValue)
        w.key("revision", first: &first)
        w.writeInt(s.revision)
        w.key("nodes", first: &first)
        w.writeRaw("[")
        for (i, n) in s.nodes.enumerated() {
            if i > 0 { w.writeRaw(",") }
            var f = true
            w.writeRaw("{")
            w.key("id", first: &f)
            w.writeString(n.id)
            w.key("kind", first: &f)
            w.writeString(n.kind.rawValue)
            if let l = n.label {
                w.key("label", first: &f)
                w.writeString(l)
            }
            w.key("status", first: &f)
            w.writeString(n.status.rawValue)
            w.key("attempt", first: &f)
            w.writeInt(n.attempt)
            if let o = n.output {
                w.key("output", first: &f)
                w.write(o)
            }
            if let m = n.metrics {
                w.key("metrics", first: &f)
                write(m, into: &w)
            }
            w.writeRaw("}")
        }
        w.writeRaw("]")
        w.key("edges", first: &first)
        writeEdges(s.edges, withActive: true, into: &w)
        w.key("cost", first: &first)
        var f = true
        w.writeRaw("{")
        writeCost(spent: s.cost.spent, budget: s.cost.budget, remaining: s.cost.remaining, into: &w, first: &f)
        w.writeRaw("}")
        w.key("waiting_gates", first: &first)
        w.writeRaw("[")
        for (i, g) in s.waitingGates.enumerated() {
            if i > 0 { w.writeRaw(",") }
            w.writeRaw("{\"node_id\":")
            w.writeString(g.nodeID)
            w.writeRaw(",\"presentation\":")
            w.write(g.presentation)
            w.writeRaw("}")
        }
        w.writeRaw("]")
        if let r = s.results {
            w.key("results", first: &first)
            w.write(.object(r))
        }
    }
}
