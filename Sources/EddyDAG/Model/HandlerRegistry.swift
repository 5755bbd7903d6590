/// Named task bodies that JSON definitions (and the CLI) refer to by name.
///
/// Guarantees: a value type; looking up an unregistered name while loading a definition fails
/// with ``DAGValidationError/Code/unknownHandler`` naming the node and the handler.
public struct HandlerRegistry: Sendable {
    private var handlers: [String: TaskBody] = [:]

    public init() {}

    public mutating func register(_ name: String, _ body: @escaping TaskBody) {
        handlers[name] = body
    }

    public func handler(named name: String) -> TaskBody? {
        handlers[name]
    }

    public var names: [String] { handlers.keys.sorted() }
}
