/// Decodes protocol messages from JSON bytes.
///
/// Guarantees: never traps on any input; an unknown `type` is ``ProtocolError/isUnknownType``,
/// everything else malformed is another ``ProtocolError``. Unknown extra fields are ignored
/// (forward compatibility), but a present `v` other than 1 is refused.
public enum ProtocolDecoder {
    /// Decodes a client command (`human_decision`, `pause_execution`, `resume_execution`, `cancel_execution`).
    public static func decodeCommand(_ bytes: [UInt8]) throws(ProtocolError) -> ClientCommand {
        let fields = try object(bytes)
        try checkVersion(fields)
        let type = try fields.string("type")
        let commandID = try fields.string("command_id")
        switch type {
        case "human_decision":
            let decision = try fields.enumValue("decision", GateDecision.self)
            let humanDecision = ClientCommand.HumanDecision(
                nodeID: try fields.string("node_id"), decision: decision, feedback: try fields.optionalString("feedback"))
            return ClientCommand(commandID: commandID, action: .humanDecision(humanDecision))
        case "pause_execution": return ClientCommand(commandID: commandID, action: .pauseExecution)
        case "resume_execution": return ClientCommand(commandID: commandID, action: .resumeExecution)
        case "cancel_execution": return ClientCommand(commandID: commandID, action: .cancelExecution)
        default: throw .unknownType(type)
        }
    }

    /// Decodes a server message (any ``ServerEvent`` in its envelope).
    public static func decodeEnvelope(_ bytes: [UInt8]) throws(ProtocolError) -> EventEnvelope {
        let fields = try object(bytes)
        try checkVersion(fields)
        let type = try fields.string("type")
        let event = try decodeEvent(type: type, fields)
        let seq = try fields.int("seq")
        var finalEvent = event
        if case .commandResult(var result) = event {
            result.seq = seq
            finalEvent = .commandResult(result)
        }
        return EventEnvelope(
            dagID: try fields.string("dag_id"), epoch: try fields.int("epoch"), seq: seq, ts: try fields.int("ts"),
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

    static func checkVersion(_ fields: Fields) throws(ProtocolError) {
        if let version = fields["v"] {
            guard let number = version.intValue else { throw .invalidField("v", "must be an integer") }
            guard number == Int64(EventEnvelope.protocolVersion) else { throw .unsupportedVersion(number) }
        }
    }

    private static func decodeEvent(type: String, _ fields: Fields) throws(ProtocolError) -> ServerEvent {
        switch type {
        case "node_state":
            return .nodeState(
                ServerEvent.NodeState(
                    nodeID: try fields.string("node_id"), status: try fields.enumValue("status", NodeStatus.self),
                    attempt: try fields.optionalInt("attempt").map { Int($0) }, output: fields["output"],
                    metrics: try fields.optionalObject("metrics").map { (metricsFields) throws(ProtocolError) in try metrics(metricsFields) }))
        case "edge_active":
            return .edgeActive(Edge(from: try fields.string("from"), to: try fields.string("to")))
        case "dag_mutated":
            return .dagMutated(try mutation(try fields.object("mutation")))
        case "cost_update":
            return .costUpdate(
                ServerEvent.CostUpdate(
                    nodeID: try fields.optionalString("node_id"), spent: try fields.double("spent"),
                    budget: try fields.optionalDouble("budget"), remaining: try fields.optionalDouble("remaining")))
        case "execution_complete":
            return .executionComplete(
                ServerEvent.ExecutionComplete(
                    status: try fields.enumValue("status", ExecutionStatus.self), results: try fields.object("results").members))
        case "human_gate_waiting":
            return .humanGateWaiting(
                ServerEvent.GateWaiting(nodeID: try fields.string("node_id"), presentation: fields["presentation"] ?? .null))
        case "gate_resolved":
            return .gateResolved(
                ServerEvent.GateResolved(
                    nodeID: try fields.string("node_id"), decision: try fields.enumValue("decision", GateDecision.self),
                    feedback: try fields.optionalString("feedback"), commandID: try fields.optionalString("command_id")))
        case "error":
            return .error(
                ServerEvent.ErrorEvent(
                    nodeID: try fields.optionalString("node_id"), code: try fields.string("code"),
                    message: try fields.string("message")))
        case "execution_state":
            return .executionState(
                ServerEvent.ExecutionState(
                    status: try fields.enumValue("status", ExecutionStatus.self), reason: try fields.optionalString("reason")))
        case "snapshot":
            return .snapshot(try snapshot(fields))
        case "command_result":
            return .commandResult(
                CommandResult(
                    commandID: try fields.string("command_id"), status: try fields.enumValue("status", CommandResult.Status.self),
                    reason: try fields.optionalString("reason")))
        case "heartbeat":
            return .heartbeat
        default:
            throw .unknownType(type)
        }
    }

    private static func metrics(_ fields: Fields) throws(ProtocolError) -> NodeMetrics {
        NodeMetrics(
            tokens: try fields.optionalInt("tokens"), cost: try fields.optionalDouble("cost"),
            durationMs: try fields.optionalInt("duration_ms"))
    }

    private static func edges(_ values: [JSONValue], path: String) throws(ProtocolError) -> [DAGSnapshot.EdgeState] {
        var result: [DAGSnapshot.EdgeState] = []
        for value in values {
            guard case .object(let members) = value else { throw .invalidField(path, "edges must be objects") }
            let edgeFields = Fields(members: members, path: path + ".")
            result.append(
                DAGSnapshot.EdgeState(
                    from: try edgeFields.string("from"), to: try edgeFields.string("to"), active: try edgeFields.optionalBool("active") ?? false))
        }
        return result
    }

    private static func mutation(_ fields: Fields) throws(ProtocolError) -> ServerEvent.GraphMutation {
        var nodes: [ServerEvent.NodeInfo] = []
        for value in try fields.array("added_nodes") {
            guard case .object(let members) = value else { throw .invalidField("added_nodes", "nodes must be objects") }
            let nodeFields = Fields(members: members, path: "added_nodes.")
            nodes.append(
                ServerEvent.NodeInfo(
                    id: try nodeFields.string("id"), kind: try nodeFields.enumValue("kind", NodeKind.self),
                    label: try nodeFields.optionalString("label")))
        }
        var removed: [NodeID] = []
        for value in try fields.array("removed_nodes") {
            guard let nodeID = value.stringValue else { throw .invalidField("removed_nodes", "must be strings") }
            removed.append(nodeID)
        }
        return ServerEvent.GraphMutation(
            revision: Int(try fields.int("revision")), sourceNode: try fields.optionalString("source_node"), addedNodes: nodes,
            addedEdges: try edges(try fields.array("added_edges"), path: "added_edges").map { Edge(from: $0.from, to: $0.to) },
            removedNodes: removed)
    }

    private static func snapshot(_ fields: Fields) throws(ProtocolError) -> DAGSnapshot {
        var nodes: [DAGSnapshot.Node] = []
        for value in try fields.array("nodes") {
            guard case .object(let members) = value else { throw .invalidField("nodes", "nodes must be objects") }
            let nodeFields = Fields(members: members, path: "nodes.")
            nodes.append(
                DAGSnapshot.Node(
                    id: try nodeFields.string("id"), kind: try nodeFields.enumValue("kind", NodeKind.self),
                    label: try nodeFields.optionalString("label"), status: try nodeFields.enumValue("status", NodeStatus.self),
                    attempt: Int(try nodeFields.int("attempt")), output: nodeFields["output"],
                    metrics: try nodeFields.optionalObject("metrics").map { (metricsFields) throws(ProtocolError) in try metrics(metricsFields) }))
        }
        let cost = try fields.object("cost")
        var gates: [ServerEvent.GateWaiting] = []
        for value in try fields.array("waiting_gates") {
            guard case .object(let members) = value else { throw .invalidField("waiting_gates", "must be objects") }
            let gateFields = Fields(members: members, path: "waiting_gates.")
            gates.append(ServerEvent.GateWaiting(nodeID: try gateFields.string("node_id"), presentation: gateFields["presentation"] ?? .null))
        }
        return DAGSnapshot(
            status: try fields.enumValue("status", ExecutionStatus.self), revision: Int(try fields.int("revision")), nodes: nodes,
            edges: try edges(try fields.array("edges"), path: "edges"),
            cost: DAGSnapshot.Cost(
                spent: try cost.double("spent"), budget: try cost.optionalDouble("budget"),
                remaining: try cost.optionalDouble("remaining")),
            waitingGates: gates, results: try fields.optionalObject("results")?.members)
    }
}
