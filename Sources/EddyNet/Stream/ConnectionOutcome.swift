/// What a connection handler run by `ByteStreamListener.serveHandingOver(_:)` (such as
/// `TCPListener`'s) leaves to be done with its connection when it returns.
///
/// Why hand over: a Swift task's allocator keeps the slabs of its deepest async stack
/// until the task ends. A connection that starts with a deep, short phase (parsing an
/// HTTP request, a WebSocket handshake) and then idles for hours in a shallow one (waiting
/// for the next message) would otherwise keep the deep phase's memory all that time. A
/// fresh task starts with nothing.
public enum ConnectionOutcome: Sendable {
    /// The handler is done with the connection: close it.
    case close
    /// Keep the connection open and run `body` in a fresh task (preferring the connection's
    /// loop) that the same `serve` call cancels and waits for, as it does its handlers. The
    /// connection is closed when `body` returns, and also when `serve` is cancelled (so waits
    /// on it end without cancellation handlers of their own). `body` should capture only what
    /// the long phase needs.
    case handOver(@Sendable () async -> Void)
    /// Keep the connection open with no task at all: something on its loop (a
    /// `ByteStreamReceiver` registered with `startReceiving`) drives it from now on and
    /// closes it when done. This is the cheapest way to hold a mostly idle connection (no
    /// task, no task-allocator slab). The listener keeps it in its table: it is closed
    /// when `serve` is cancelled, and `serve` returns only after it has closed.
    case keepOpen
}
