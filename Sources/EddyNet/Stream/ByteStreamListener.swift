public import EddyLoop

/// A source of accepted byte streams that serves each with a handler: what `TCPListener`
/// implements now and a TLS listener implements next, so that servers (`HTTPServer`) are
/// written once.
///
/// Guarantees every conforming type makes (see `TCPListener.serveHandingOver(_:)`):
/// - every accepted stream is served by `handler` in its own task that prefers the
///   stream's loop, and is closed when the handler returns `.close` or throws;
/// - `.handOver(body)` runs `body` exactly once in a fresh task of the same call,
///   `.keepOpen` keeps the stream open with no task until it closes (and its driver is
///   done, `ByteStream.driverFinishesAfterClose()`);
/// - `serveHandingOver` returns when the listener is closed and every handler, body and
///   kept-open stream has finished; cancelling it closes the listener, cancels the
///   handlers and closes every handed-over and kept-open stream.
public protocol ByteStreamListener: AnyObject, Sendable {
    associatedtype Stream: ByteStream

    /// The loop that accepts. Run `serve` on it (`Task(executorPreference:)`).
    var eventLoop: EventLoop { get }
    /// Serves every accepted stream with `handler` (see the guarantees above).
    func serveHandingOver(_ handler: @escaping @Sendable (Stream) async throws -> ConnectionOutcome) async throws
    /// Stops accepting; streams not yet handed to a handler are closed. Idempotent.
    func close() async
}

extension ByteStreamListener {
    /// Serves every accepted stream with `handler`, each in its own task that prefers
    /// the stream's loop (no executor hop between I/O and handler), and closes each stream
    /// when its handler returns or throws. Returns when the listener is closed and every
    /// handler has finished; cancelling the calling task closes the listener and cancels
    /// the handlers.
    ///
    /// Run the calling task on `eventLoop` (`Task(executorPreference: listener.eventLoop)`)
    /// so that accepting never waits for Swift's global thread pool, which CPU-bound work
    /// elsewhere in the process may be keeping busy.
    public func serve(_ handler: @escaping @Sendable (Stream) async throws -> Void) async throws {
        try await serveHandingOver({ stream in
            try await handler(stream)
            return .close
        })
    }
}
