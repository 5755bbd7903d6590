/// Decodes protocol messages from JSON bytes.
///
/// Guarantees: never traps on any input; an unknown `type` is ``ProtocolError/isUnknownType``,
/// everything else malformed is another ``ProtocolError``. Unknown extra fields are ignored
/// (forward compatibility), but a present `v` other than 1 is refused.
public enum ProtocolDecoder {
    /// Decodes a client command (`human_decision`, `pause_execution`, `resume_execution`, `cancel_execution`).
    public static func decodeCommand(_ bytes: [UInt8]) throws(ProtocolError) -> ClientCommand {
        let o = try object(bytes)
        try checkVersion(o)
        let type = try o.string("type")
        let commandID = try o.string("command_id")
        switch type {
        case "human_decision":
            let decision = try o.enumValue("decision", GateDecision.self)
            let d = ClientCommand.HumanDecision(
                nodeID: try o.string("node_id"), decision: decision, feedback: try o.optionalString("feedback"))
            return ClientCommand(commandID: commandID, action: .humanDecision(d))
        case "pause_execution": return ClientCommand(commandID: commandID, action: .pauseExecution)
        case "resume_execution": return ClientCommand(commandID: commandID, action: .resumeExecution)
        case "cancel_execution": return ClientCommand(commandID: commandID, action: .cancelExecution)
        default: throw .unknownType(type)
        }
    }

    /// Decodes a server message (any ``ServerEvent`` in its envelope).
    public static func decodeEnvelope(_ bytes: [UInt8]) throws(ProtocolError) -> EventEnvelope {
        let o = try object(bytes)
        try checkVersion(o)
        let type = try o.string("type")
        let event = try decodeEvent(type: type, o)
        let seq = try o.int("seq")
        var finalEvent = event
        if case .commandResult(var r) = event {
            r.seq = seq
            finalEvent = .commandResult(r)
        }
        return EventEnvelope(
            dagID: try o.string("dag_id"), epoch: try o.int("epoch"), seq: seq, ts: try o.int("ts"),
            event: finalEvent)
    }

    static func object(_ bytes: [UInt8]) throws(ProtocolError) -> Fields {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw .malformedJSON(error)
        }
        guard case .object(let members) = value else { throw .notAnObject }
        return Fields(members: members, path: "")
    }

    static func checkVersion(_ o: Fields) throws(ProtocolError) {
        if let v = o["v"] {
            guard let n = v.intValue else { throw .invalidField("v", "must be an integer") }
            guard n == Int64(EventEnvelope.protocolVersion) else { throw .unsupportedVersion(n) }
        }
    }

    private static func decodeEvent(type: String, _ o: Fields) throws(ProtocolError) -> ServerEvent {
        switch type {
        case "node_state":
            return .nodeState(
                ServerEvent.NodeState(
                    nodeID: try o.string("node_id"), status: try o.enumValue("status", NodeStatus.self),
                    attempt: try o.optionalInt("attempt").map { Int($0) }, output: o["output"],
                    metrics: try o.optionalObject("metrics").map { (m) throws(ProtocolError) in try metrics(m) }))
        case "edge_active":
            return .edgeActive(Edge(from: try o.string("from"), to: try o.string("to")))
        case "dag_mutated":
            return .dagMutated(try mutation(try o.object("mutation")))
        case "cost_update":
            return .costUpdate(
                ServerEvent.CostUpdate(
                    nodeID: try o.optionalString("node_id"), spent: try o.double("spent"),
                    budget: try o.optionalDouble("budget"), remaining: try o.optionalDouble("remaining")))
        case "execution_complete":
            return .executionComplete(
                ServerEvent.ExecutionComplete(
                    status: try o.enumValue("status", ExecutionStatus.self), results: try o.object("results").members))
        case "human_gate_waiting":
            return .humanGateWaiting(
                ServerEvent.GateWaiting(nodeID: try o.string("node_id"), presentation: o["presentation"] ?? .null))
        case "gate_resolved":
            return .gateResolved(
                ServerEvent.GateResolved(
                    nodeID: try o.string("node_id"), decision: try o.enumValue("decision", GateDecision.self),
                    feedback: try o.optionalString("feedback"), commandID: try o.optionalString("command_id")))
        case "error":
            return .error(
                ServerEvent.ErrorEvent(
                    nodeID: try o.optionalString("node_id"), code: try o.string("code"),
                    message: try o.string("message")))
        case "execution_state":
            return .executionState(
                ServerEvent.ExecutionState(
                    status: try o.enumValue("status", ExecutionStatus.self), reason: try o.optionalString("reason")))
        case "snapshot":
            return .snapshot(try snapshot(o))
        case "command_result":
            return .commandResult(
                CommandResult(
                    commandID: try o.string("command_id"), status: try o.enumValue("status", CommandResult.Status.self),
                    reason: try o.optionalString("reason")))
        case "heartbeat":
            return .heartbeat
        default:
            throw .unknownType(type)
        }
    }

    private static func metrics(_ o: Fields) throws(ProtocolError) -> NodeMetrics {
        NodeMetrics(
            tokens: try o.optionalInt("tokens"), cost: try o.optionalDouble("cost"),
            durationMs: try o.optionalInt("duration_ms"))
    }

    private static func edges(_ values: [JSONValue], path: String) throws(ProtocolError) -> [DAGSnapshot.EdgeState] {
        var result: [DAGSnapshot.EdgeState] = []
        for v in values {
            guard case .object(let m) = v else { throw .invalidField(path, "edges must be objects") }
            let e = Fields(members: m, path: path + ".")
            result.append(
                DAGSnapshot.EdgeState(
                    from: try e.string("from"), to: try e.string("to"), active: try e.optionalBool("active") ?? false))
        }
        return result
    }

    private static func mutation(_ o: Fields) throws(ProtocolError) -> ServerEvent.GraphMutation {
        var nodes: [ServerEvent.NodeInfo] = []
        for v in try o.array("added_nodes") {
            guard case .object(let m) = v else { throw .invalidField("added_nodes", "nodes must be objects") }
            let n = Fields(members: m, path: "added_nodes.")
            nodes.append(
                ServerEvent.NodeInfo(
                    id: try n.string("id"), kind: try n.enumValue("kind", NodeKind.self),
                    label: try n.optionalString("label")))
        }
        var removed: [NodeID] = []
        for v in try o.array("removed_nodes") {
            guard let s = v.stringValue else { throw .invalidField("removed_nodes", "must be strings") }
            removed.append(s)
        }
        return ServerEvent.GraphMutation(
            revision: Int(try o.int("revision")), sourceNode: try o.optionalString("source_node"), addedNodes: nodes,
            addedEdges: try edges(try o.array("added_edges"), path: "added_edges").map { Edge(from: $0.from, to: $0.to) },
            removedNodes: removed)
    }

    private static func snapshot(_ o: Fields) throws(ProtocolError) -> DAGSnapshot {
        var nodes: [DAGSnapshot.Node] = []
        for v in try o.array("nodes") {
            guard case .object(let m) = v else { throw .invalidField("nodes", "nodes must be objects") }
            let n = Fields(members: m, path: "nodes.")
            nodes.append(
                DAGSnapshot.Node(
                    id: try n.string("id"), kind: try n.enumValue("kind", NodeKind.self),
                    label: try n.optionalString("label"), status: try n.enumValue("status", NodeStatus.self),
                    attempt: Int(try n.int("attempt")), output: n["output"],
                    metrics: try n.optionalObject("metrics").map { (m) throws(ProtocolError) in try metrics(m) }))
        }
        let cost = try o.object("cost")
        var gates: [ServerEvent.GateWaiting] = []
        for v in try o.array("waiting_gates") {
            guard case .object(let m) = v else { throw .invalidField("waiting_gates", "must be objects") }
            let g = Fields(members: m, path: "waiting_gates.")
            gates.append(ServerEvent.GateWaiting(nodeID: try g.string("node_id"), presentation: g["presentation"] ?? .null))
        }
        return DAGSnapshot(
            status: try o.enumValue("status", ExecutionStatus.self), revision: Int(try o.int("revision")), nodes: nodes,
            edges: try edges(try o.array("edges"), path: "edges"),
            cost: DAGSnapshot.Cost(
                spent: try cost.double("spent"), budget: try cost.optionalDouble("budget"),
                remaining: try cost.optionalDouble("remaining")),
            waitingGates: gates, results: try o.optionalObject("results")?.members)
    }
}
