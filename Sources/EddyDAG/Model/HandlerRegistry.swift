/// Named task bodies that JSON definitions (and the CLI) refer to by name.
///
/// A handler is registered either as a fixed body, or as a factory that builds the body from
/// the node's `"params"` object, so one handler (say `sleep`) serves every node that names it
/// with its own settings.
///
/// Guarantees: a value type; looking up an unregistered name while loading a definition fails
/// with ``DAGValidationError/Code/unknownHandler`` naming the node and the handler, and a
/// factory that refuses a node's params fails the load with `invalidDefinition` and the
/// factory's message: a definition either loads whole or not at all.
public struct HandlerRegistry: Sendable {
    /// Builds a node's body from its `"params"` (`null` when the node has none); throws to
    /// refuse them, with a message for the user.
    public typealias Factory = @Sendable (_ params: JSONValue) throws -> TaskBody

    private var factories: [String: Factory] = [:]

    public init() {}

    /// Registers a body that ignores params.
    public mutating func register(_ name: String, _ body: @escaping TaskBody) {
        factories[name] = { _ in body }
    }

    /// Registers a factory that builds each node's body from its params.
    public mutating func register(_ name: String, configured factory: @escaping Factory) {
        factories[name] = factory
    }

    /// The body for a node naming `name` with `params`; `nil` if no handler has that name.
    public func handler(named name: String, params: JSONValue = .null) throws -> TaskBody? {
        guard let factory = factories[name] else { return nil }
        return try factory(params)
    }

    public var names: [String] { factories.keys.sorted() }
}
