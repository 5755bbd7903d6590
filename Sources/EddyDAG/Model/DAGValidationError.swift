/// Why a definition or a mutation was refused.
///
/// Guarantees: `code` identifies the rule broken, `nodes` names the nodes involved (for a
/// cycle, the cycle in order, first node repeated at the end), and `description` is a readable
/// sentence. New codes may be added without breaking users (a struct, not an enum).
public struct DAGValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The rule that was broken.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case emptyGraph = "empty_graph"
            case duplicateID = "duplicate_id"
            case unknownDependency = "unknown_dependency"
            case cycle
            case gateWithoutPathForward = "gate_without_path_forward"
            case invalidRetry = "invalid_retry"
            case unknownHandler = "unknown_handler"
            case invalidDefinition = "invalid_definition"
            case mutationNotDownstream = "mutation_not_downstream"
            case mutationNotAllowed = "mutation_not_allowed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let emptyGraph = Code(.emptyGraph)
        public static let duplicateID = Code(.duplicateID)
        public static let unknownDependency = Code(.unknownDependency)
        public static let cycle = Code(.cycle)
        public static let gateWithoutPathForward = Code(.gateWithoutPathForward)
        public static let invalidRetry = Code(.invalidRetry)
        public static let unknownHandler = Code(.unknownHandler)
        public static let invalidDefinition = Code(.invalidDefinition)
        /// A mutation tried to add or remove something that is not downstream of the mutating node.
        public static let mutationNotDownstream = Code(.mutationNotDownstream)
        /// A mutation was attempted when it cannot apply (node not running, target already started...).
        public static let mutationNotAllowed = Code(.mutationNotAllowed)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let nodes: [NodeID]
    public let detail: String

    init(_ code: Code, nodes: [NodeID], detail: String) {
        self.code = code
        self.nodes = nodes
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}
