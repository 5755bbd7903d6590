public import EddyLoop

/// A bidirectional, ordered byte stream owned by one event loop: what TCP implements
/// now and TLS implements next, so that HTTP and WebSocket code is written once.
///
/// Guarantees every conforming type makes:
/// - `inbound` delivers bytes in order, each element being everything received since the
///   previous element was taken (so one resume can carry many reads); one read may be
///   pending at a time, and reading stops while too much is buffered (backpressure).
/// - `write` called on `eventLoop` queues its bytes before its first suspension, so
///   writes are sent in call order even when a caller then waits for the queue to drain.
/// - `write` returns at once while the outbound queue is under its high watermark and
///   suspends above it until written bytes drain it under the low watermark.
/// - Cancelling a task suspended in `inbound` or `write` closes the stream.
public protocol ByteStream: AnyObject, Sendable {
    associatedtype Inbound: AsyncSequence where Inbound.Element == [UInt8]

    /// The loop that owns the stream's handle. Running on it avoids executor hops.
    var eventLoop: EventLoop { get }
    /// The peer's address, when the stream has one (for log lines). Default nil.
    var remoteAddress: SocketAddress? { get }
    /// Received bytes, in order. One pending read at a time.
    var inbound: Inbound { get }
    /// The next chunk of received bytes (everything buffered), or nil at end of stream:
    /// what `inbound`'s iterator returns, for callers that hold the stream itself.
    func read() async throws -> [UInt8]?
    /// Queues `bytes` for sending (see the backpressure rule above).
    func write(_ bytes: [UInt8]) async throws
    /// Queues several buffers to go out together, in one system call when they fit.
    func write(contentsOf buffers: [[UInt8]]) async throws
    /// Queues `buffers` without waiting, for code that runs on `eventLoop` and cannot
    /// suspend (a fan-out loop). Returns false when the queue is now above the high
    /// watermark: the bytes are queued all the same, but the caller should stop writing
    /// until `waitUntilWritable()` returns.
    ///
    /// - Important: Call on `eventLoop` only.
    func writeWithoutWaiting(contentsOf buffers: [[UInt8]]) throws -> Bool
    /// `writeWithoutWaiting(contentsOf:)` for one buffer (no array of buffers to build).
    func writeWithoutWaiting(_ bytes: [UInt8]) throws -> Bool
    /// `writeWithoutWaiting` for a small header and the payload after it, copied straight
    /// into the stream's outbound buffer (for a framing layer: no buffer is built to join
    /// them). The same rules and result as `writeWithoutWaiting(contentsOf:)`.
    ///
    /// - Important: Call on `eventLoop` only.
    func writeWithoutWaiting(_ header: RawSpan, _ payload: RawSpan) throws -> Bool
    /// Returns once the outbound queue is at or below the low watermark.
    func waitUntilWritable() async throws
    /// Sends the queued bytes, then a FIN: the peer reads end-of-file, while this side can
    /// still read.
    func shutdownWrite() async throws
    /// Closes the stream at once; pending reads end and pending writes fail. Idempotent.
    func close() async
    /// Starts closing the stream from any thread without waiting, as cancelling a task
    /// suspended on it would: pending reads end with `CancellationError`. For code that
    /// serves a stream and is cancelled (a cancellation handler cannot `await close()`).
    func closeForCancellationSoon()
    /// Returns once the stream has closed, by either side (without closing it).
    /// Cancelling the waiting task closes the stream, as for a suspended read.
    func waitUntilClosed() async

    /// For the driver of a stream its listener keeps open with no task
    /// (`ConnectionOutcome.keepOpen`) that has callbacks to run after the stream closes:
    /// the listener (and so its `serve`) keeps the stream until `driverFinished()` too. A
    /// stream that wraps another forwards both calls. Loop thread.
    func driverFinishesAfterClose()
    /// See `driverFinishesAfterClose()`. Loop thread.
    func driverFinished()

    /// From now on, hands every received byte to `receiver` on the loop, as it arrives
    /// (first whatever is already buffered): the push-style alternative to `inbound`, for
    /// protocol engines that consume bytes synchronously. The stream holds `receiver`
    /// until it reports the end. Do not mix with `read()`.
    ///
    /// - Important: Call on `eventLoop` only.
    func startReceiving(_ receiver: any ByteStreamReceiver)
    /// Stops reading from the socket (the peer meets TCP backpressure) until
    /// `resumeReceiving()`. Loop thread only.
    func pauseReceiving()
    /// Reads again after `pauseReceiving()`. Loop thread only.
    func resumeReceiving()
}

/// What a `ByteStream` pushes received bytes to (see `ByteStream.startReceiving`). Every
/// call comes on the stream's loop, and `streamDidEnd` may come re-entrantly, from inside
/// a call the receiver makes on the stream (a write that finds the connection reset):
/// the receiver must not be in the middle of changing its own state when it writes.
public protocol ByteStreamReceiver: AnyObject {
    /// Bytes arrived, in order. `bytes` lives only for the call (it is the loop's shared
    /// receive buffer, so receiving costs no allocation); the receiver may change it in
    /// place (unmasking) and must copy what it keeps.
    func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer)
    /// The stream ended: `nil` at the peer's FIN or a local close, otherwise the read
    /// error. Called at most once; nothing is received after it.
    func streamDidEnd(_ error: (any Error)?)
}

extension ByteStream {
    /// A stream with no peer address of its own (an in-memory or wrapped test stream).
    public var remoteAddress: SocketAddress? { nil }

    /// Joins the two into one buffer for `writeWithoutWaiting(_:)`: correct for any stream
    /// (TCP and TLS copy small ones into their outbound buffer instead).
    public func writeWithoutWaiting(_ header: RawSpan, _ payload: RawSpan) throws -> Bool {
        try writeWithoutWaiting([UInt8](joining: header, payload))
    }
}
