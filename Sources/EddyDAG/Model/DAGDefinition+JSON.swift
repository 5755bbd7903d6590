/// Loading a definition from JSON (used by the CLI). The format:
///
/// ```json
/// { "budget": { "limit": 2.5, "on_exceeded": "stop" }, "max_concurrency": 8,
///   "nodes": [
///     { "id": "fetch", "handler": "http_get", "params": { "url": "https://example.com" },
///       "retry": { "max_attempts": 3, "backoff_ms": 100,
///       "multiplier": 2, "max_backoff_ms": 2000 }, "timeout_ms": 5000 },
///     { "id": "review", "depends_on": ["fetch"],
///       "gate": { "presentation": { "title": "OK?" }, "timeout_ms": 60000, "on_timeout": "reject" } },
///     { "id": "publish", "handler": "publish", "depends_on": ["review"] } ] }
/// ```
extension DAGDefinition {
    /// Parses and validates a JSON definition; task nodes name handlers in `handlers`.
    public init(json bytes: [UInt8], handlers: HandlerRegistry) throws(DAGValidationError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw DAGValidationError(.invalidDefinition, nodes: [], detail: error.description)
        }
        guard let nodeValues = root["nodes"]?.arrayValue else {
            throw Self.shapeError("the definition must be an object with a \"nodes\" array")
        }
        var nodes: [NodeDefinition] = []
        for value in nodeValues {
            nodes.append(try Self.node(from: value, handlers: handlers))
        }
        var budget = BudgetPolicy.unlimited
        if let budgetValue = root["budget"], budgetValue != .null {
            let onExceeded = budgetValue["on_exceeded"]?.stringValue.flatMap(BudgetPolicy.OnExceeded.init(rawValue:)) ?? .stop
            budget = BudgetPolicy(limit: budgetValue["limit"]?.doubleValue, onExceeded: onExceeded)
        }
        let concurrency = root["max_concurrency"]?.intValue.map { Int($0) } ?? 16
        try self.init(nodes: nodes, budget: budget, maxConcurrency: concurrency)
    }

    /// One node in the definition format (for handlers that add nodes at run time).
    public static func node(json value: JSONValue, handlers: HandlerRegistry) throws(DAGValidationError) -> NodeDefinition {
        try node(from: value, handlers: handlers)
    }

    private static func shapeError(_ detail: String, node: NodeID? = nil) -> DAGValidationError {
        DAGValidationError(.invalidDefinition, nodes: node.map { [$0] } ?? [], detail: detail)
    }

    private static func milliseconds(_ value: JSONValue?) -> Duration? {
        value?.intValue.map { Duration.milliseconds($0) }
    }

    private static func node(from value: JSONValue, handlers: HandlerRegistry) throws(DAGValidationError)
        -> NodeDefinition
    {
        guard let id = value["id"]?.stringValue else { throw shapeError("every node needs a string \"id\"") }
        var dependencies: [NodeID] = []
        if let deps = value["depends_on"] {
            guard let array = deps.arrayValue else { throw shapeError("\"depends_on\" must be an array", node: id) }
            for dependency in array {
                guard let dependencyID = dependency.stringValue else { throw shapeError("dependencies must be strings", node: id) }
                dependencies.append(dependencyID)
            }
        }
        var retry = RetryPolicy.none
        if let retryValue = value["retry"] {
            let attempts = Int(retryValue["max_attempts"]?.intValue ?? 1)
            let backoff: RetryPolicy.Backoff
            if let initial = milliseconds(retryValue["backoff_ms"]) {
                if let multiplier = retryValue["multiplier"]?.doubleValue {
                    backoff = .exponential(
                        initial: initial, multiplier: multiplier,
                        maximum: milliseconds(retryValue["max_backoff_ms"]) ?? .seconds(60))
                } else {
                    backoff = .fixed(initial)
                }
            } else {
                backoff = .none
            }
            retry = RetryPolicy(maxAttempts: attempts, backoff: backoff)
        }
        let label = value["label"]?.stringValue
        if let gate = value["gate"] {
            var timeout: GateTimeoutPolicy?
            if let after = milliseconds(gate["timeout_ms"]) {
                let raw = gate["on_timeout"]?.stringValue ?? "reject"
                guard let action = GateTimeoutPolicy.Action(rawValue: raw) else {
                    throw shapeError("\"on_timeout\" must be approve, reject or fail", node: id)
                }
                timeout = GateTimeoutPolicy(after: after, action: action)
            }
            return .gate(
                id, after: dependencies, presentation: gate["presentation"] ?? .null, timeout: timeout, label: label)
        }
        guard let handlerName = value["handler"]?.stringValue else {
            throw shapeError("node '\(id)' needs a \"handler\" (task) or a \"gate\" object", node: id)
        }
        let found: TaskBody?
        do {
            found = try handlers.handler(named: handlerName, params: value["params"] ?? .null)
        } catch {
            throw shapeError("node '\(id)': handler '\(handlerName)': \(error)", node: id)
        }
        guard let body = found else {
            throw DAGValidationError(
                .unknownHandler, nodes: [id],
                detail: "node '\(id)' names unknown handler '\(handlerName)' (known: \(handlers.names.joined(separator: ", ")))")
        }
        return NodeDefinition(
            id: id, dependencies: dependencies, kind: .task(body), retry: retry,
            timeout: milliseconds(value["timeout_ms"]), label: label)
    }
}
