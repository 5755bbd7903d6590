/// One immutable value shared by many objects, so that each keeps a reference (8 bytes)
/// instead of its own copy: the settings of a listener's or a route's connections.
package final class SharedValue<Value: Sendable>: Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}
