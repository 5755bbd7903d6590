/// Identifier of a node inside one DAG; unique within a run (ids of removed nodes stay reserved).
public typealias NodeID = String

/// The async body of a task node. It receives a ``NodeContext`` and returns the node's output.
///
/// - Important: the body runs outside the engine's isolation, concurrently with other nodes.
///   It should observe cooperative cancellation (`Task.isCancelled`, ``NodeContext/checkCancellation()``):
///   cancel, timeouts and run cancellation only *request* it to stop.
public typealias TaskBody = @Sendable (NodeContext) async throws -> JSONValue

/// One node of a DAG: a task running an async closure, or a human gate presenting a payload.
///
/// Guarantees: a value type; validity (unique ids, known dependencies, no cycles, gates that lead
/// somewhere) is checked by ``DAGValidator`` when a definition is built, loaded or mutated.
public struct NodeDefinition: Sendable {
    /// What the node does.
    public enum Kind: Sendable {
        /// Runs `body`; its return value becomes the node's output.
        case task(TaskBody)
        /// Waits for a human decision; `presentation` is shown to the reviewer.
        case humanGate(presentation: JSONValue, timeout: GateTimeoutPolicy?)
    }

    public var id: NodeID
    public var dependencies: [NodeID]
    public var kind: Kind
    public var retry: RetryPolicy
    /// Maximum duration of one attempt; on expiry the attempt is cancelled and counts as a failure.
    public var timeout: Duration?
    /// Optional human-readable label shown by dashboards.
    public var label: String?

    public init(
        id: NodeID, dependencies: [NodeID] = [], kind: Kind, retry: RetryPolicy = .none,
        timeout: Duration? = nil, label: String? = nil
    ) {
        self.id = id
        self.dependencies = dependencies
        self.kind = kind
        self.retry = retry
        self.timeout = timeout
        self.label = label
    }

    /// A task node.
    public static func task(
        _ id: NodeID, after dependencies: [NodeID] = [], retry: RetryPolicy = .none, timeout: Duration? = nil,
        label: String? = nil, _ body: @escaping TaskBody
    ) -> NodeDefinition {
        NodeDefinition(id: id, dependencies: dependencies, kind: .task(body), retry: retry, timeout: timeout, label: label)
    }

    /// A human-gate node.
    public static func gate(
        _ id: NodeID, after dependencies: [NodeID] = [], presentation: JSONValue,
        timeout: GateTimeoutPolicy? = nil, label: String? = nil
    ) -> NodeDefinition {
        NodeDefinition(
            id: id, dependencies: dependencies, kind: .humanGate(presentation: presentation, timeout: timeout),
            label: label)
    }

    /// The protocol name of the node's kind.
    public var kindName: NodeKind {
        switch kind {
        case .task: return .task
        case .humanGate: return .humanGate
        }
    }

    var isGate: Bool {
        if case .humanGate = kind { return true }
        return false
    }
}
