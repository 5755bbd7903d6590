import EddyShared
import CLibUV
import CEddyShims
public import EddyLoop
import Synchronization

/// A TCP connection owned by one event loop.
///
/// Guarantees:
/// - All of its state is touched on `eventLoop`'s thread only; every public method may be
///   called from anywhere, and costs no executor hop when called on that loop (start
///   connection tasks with `Task(executorPreference: connection.eventLoop)`, as
///   `TCPListener.serve` does).
/// - `inbound` yields everything received since the previous element in one resume
///   (one read pending at a time),
///   with at most one allocation per read; reading stops while
///   `readHighWatermark` bytes wait for the consumer and resumes at `readLowWatermark`.
/// - `write` returns at once while at most `writeHighWatermark` bytes are queued and
///   suspends until the queue drains to `writeLowWatermark` otherwise.
/// - Every suspended reader or writer is resumed exactly once: with data, end of stream,
///   an `IOError` (`closed`, `connectionReset`, `eventLoopShutdown` …) or
///   `CancellationError`. Cancelling a task suspended in a read or write closes the
///   connection.
/// - The socket is closed by `close()`, by a read error, by cancellation, or by the loop's
///   shutdown; its memory is freed in libuv's close callback.
public final class TCPConnection: ByteStream, LoopResource, UVHandleOwner, EndOfIterationFlushable, @unchecked Sendable {
    // Stored properties are laid out in declaration order: the one-byte flags sit in the
    // padding after the two addresses (29 bytes each), not in a word each, and the instance
    // is kept at 248 bytes so that it fits a 256-byte malloc chunk (every open connection
    // keeps one; `Benchmarks/scripts/heap-idle.sh` shows the size class).
    public let eventLoop: EventLoop
    /// The settings this connection was made with.
    public var configuration: TCPConfiguration { shared.value }
    private let shared: SharedValue<TCPConfiguration>
    let handle: UnsafeMutablePointer<uv_tcp_t>
    /// Small writes made during this loop iteration, sent together at its end (those made
    /// while a receiver handles a read, as the read's callback returns). Declared here,
    /// beside the flags below, so that a write touches the first two cache lines of the
    /// connection only (a broadcast makes one per member).
    @exclusivity(unchecked) var cork: [UInt8] = []
    /// The peer's address, when the kernel reports one.
    public let remoteAddress: SocketAddress?

    enum Phase: UInt8 { case open, closing, closed }
    // Loop-thread state. The fields touched per read, write or job are
    // `@exclusivity(unchecked)`: only the loop's thread touches them and no access overlaps
    // another, so the runtime's dynamic exclusivity check proves nothing (see WebSocket.swift).
    @exclusivity(unchecked) var phase = Phase.open
    var readEnded = false
    @exclusivity(unchecked) var reading = false

    /// This side's address.
    public let localAddress: SocketAddress?

    @exclusivity(unchecked) var receivingPaused = false
    @exclusivity(unchecked) var corkRegistered = false
    /// Whether `cork` is a buffer of the loop's pool (`EventLoop.takeWriteBuffer`), given
    /// back after the flush, rather than a caller's buffer held by reference.
    @exclusivity(unchecked) var corkOwned = false
    /// The flags that change at most once or twice in a connection's life. Loop thread.
    var marks: Marks = []
    /// `uv_write` requests not yet completed. While there are none, libuv's write queue is
    /// empty, and a write need not read its size from the handle (another allocation, so
    /// another cache miss per write when a broadcast walks thousands of connections).
    @exclusivity(unchecked) var writeRequests: UInt32 = 0

    /// For an accepted connection, the listener's acceptor: its place in the listener's
    /// connection counts (given back when it closes, `Marks.admitted`) and, for a connection
    /// kept open (`ConnectionOutcome.keepOpen`), the table that keeps it until it has closed
    /// and is told so (`Marks.tracked`).
    var acceptance: ConnectionAcceptance?

    @exclusivity(unchecked) var tally = TCPTally()
    // Read side.
    @exclusivity(unchecked) var pending: [UInt8] = []
    @exclusivity(unchecked) var reader: UnsafeContinuation<[UInt8]?, any Error>?
    /// Where received bytes go instead of `pending`, once `startReceiving` was called.
    var receiver: (any ByteStreamReceiver)?
    // Write side (`cork` is above).
    /// The writers waiting for the queue to drain, the read error and who waits for the
    /// shutdown or the close, out of line (see the type): an open connection nobody waits
    /// on keeps one empty reference for them.
    var ending: TCPConnectionEnding?
    /// Neighbours in the loop's list of open connections (`LoopConnections`), which keeps
    /// the connection until its handle has closed. Loop thread.
    var nextOnLoop: TCPConnection?
    // Unsafe boundary: not retained (a retained back link would make a cycle). Sound because
    // it is set only while both connections are on the list, which retains each of them
    // through the link before it; `LoopConnections.remove` re-points it when the neighbour
    // before leaves and clears it when this connection leaves.
    unowned(unsafe) var previousOnLoop: TCPConnection?

    struct Marks: OptionSet {
        let rawValue: UInt8
        /// `shutdownWrite` was called.
        static let writeShut = Marks(rawValue: 1 << 0)
        /// The driver of a kept-open connection reports when it is done (after its own
        /// close callbacks); until then, and until the close, the listener keeps it.
        static let awaitsDriver = Marks(rawValue: 1 << 1)
        static let driverDone = Marks(rawValue: 1 << 2)
        /// `acceptance` holds a place in the listener's counts, not yet given back.
        static let admitted = Marks(rawValue: 1 << 3)
        /// The listener's table keeps this connection until it is finished (`isFinished`).
        static let tracked = Marks(rawValue: 1 << 4)
    }

    /// The bytes waiting in libuv's write queue (not the cork). Loop thread, before the close
    /// completes (the handle's memory is freed then).
    var libuvQueuedBytes: Int {
        writeRequests == 0 ? 0 : Int(handle.tcpAsStream.pointee.write_queue_size)
    }

    var writeShut: Bool {
        get { marks.contains(.writeShut) }
        set { if newValue { marks.insert(.writeShut) } else { marks.remove(.writeShut) } }
    }

    /// Writers suspended on the high watermark. Loop only.
    var writers: [UnsafeContinuation<Void, any Error>] {
        get { ending?.writers ?? [] }
        set { if !newValue.isEmpty || ending != nil { endingState().writers = newValue } }
    }
    /// Whether a writer is suspended, without copying the list. Loop only.
    var hasWriters: Bool {
        guard let ending else { return false }
        return !ending.writers.isEmpty
    }

    /// The error reading ended with, if it failed. Loop only.
    var readError: (any Error)? {
        get { ending?.readError }
        set { if newValue != nil || ending != nil { endingState().readError = newValue } }
    }
    /// Who waits for `shutdownWrite` to complete. Loop only.
    var shutdownWaiter: UnsafeContinuation<Void, any Error>? {
        get { ending?.shutdownWaiter }
        set { if newValue != nil || ending != nil { endingState().shutdownWaiter = newValue } }
    }
    /// Who waits for the close. Loop only.
    var closeWaiters: [UnsafeContinuation<Void, Never>] {
        get { ending?.closeWaiters ?? [] }
        set { if !newValue.isEmpty || ending != nil { endingState().closeWaiters = newValue } }
    }

    private func endingState() -> TCPConnectionEnding {
        if let ending { return ending }
        let made = TCPConnectionEnding()
        ending = made
        return made
    }

    /// Wraps an initialised, open `uv_tcp_t` on `loop`. Loop thread only; registers with
    /// the loop (the caller has checked the loop is running).
    init(handle: UnsafeMutablePointer<uv_tcp_t>, loop: EventLoop, configuration shared: SharedValue<TCPConfiguration>) {
        self.handle = handle
        self.eventLoop = loop
        self.shared = shared
        let configuration = shared.value
        self.remoteAddress = Self.address(of: handle, peer: true)
        self.localAddress = Self.address(of: handle, peer: false)
        UVHandle.retain(self, in: handle.tcpAsHandle)
        if configuration.noDelay { uv_tcp_nodelay(handle, 1) }
        if let keepAlive = configuration.keepAlive {
            uv_tcp_keepalive(handle, 1, UInt32(max(1, keepAlive.components.seconds)))
        }
        if let size = configuration.sendBufferSize {
            var value = Int32(clamping: size)
            uv_send_buffer_size(handle.tcpAsHandle, &value)
        }
        if let limit = configuration.unsentLimit {
            var descriptor = uv_os_fd_t()
            if uv_fileno(handle.tcpAsHandle, &descriptor) == 0 {
                // Best effort: a kernel without TCP_NOTSENT_LOWAT leaves the socket as it was.
                _ = eddy_set_tcp_unsent_limit(descriptor, Int32(clamping: limit))
            }
        }
        _ = loop.helper(LoopConnections.self) { LoopConnections(loop: loop) }.insert(self)
    }

    private static func address(of handle: UnsafeMutablePointer<uv_tcp_t>, peer: Bool) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutableBytes(of: &storage) { raw in
            let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            return peer ? uv_tcp_getpeername(handle, address, &length) : uv_tcp_getsockname(handle, address, &length)
        }
        guard status == 0 else { return nil }
        return withUnsafeBytes(of: storage) { SocketAddress($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    /// This connection's counters, read on its loop.
    public func counters() async -> TCPCounters {
        if eventLoop.inEventLoop { return countersOnLoop }
        // Safe to drop: the loop has shut down, so the counters no longer change; read them here.
        return (try? await eventLoop.submit { self.countersOnLoop }) ?? countersOnLoop
    }

    /// The counters, with the bytes buffered and queued right now derived from the buffers
    /// themselves (nothing is queued once the socket has closed). Loop thread.
    var countersOnLoop: TCPCounters {
        var counters = TCPCounters()
        counters.bytesRead = tally.bytesRead
        counters.bytesWritten = tally.bytesWritten
        counters.reads = tally.reads
        counters.writeCalls = tally.writeCalls
        counters.readPauses = Int(tally.readPauses)
        counters.writerSuspensions = Int(tally.writerSuspensions)
        counters.inboundBufferedHighWaterMark = Int(tally.inboundBufferedHighWaterMark)
        counters.outboundQueuedHighWaterMark = Int(tally.outboundQueuedHighWaterMark)
        counters.inboundBuffered = pending.count
        // The handle's memory is freed when the close completes (`phase == .closed`).
        counters.outboundQueued = phase == .closed ? 0 : libuvQueuedBytes + cork.count
        return counters
    }

    // MARK: Closing

    /// Closes the connection now and waits until libuv has released the socket.
    ///
    /// Pending reads end (`nil`). Bytes already written are offered to the kernel once;
    /// what it does not take at once is dropped and waiting writers fail with
    /// `IOError.Code.closed`. To be sure everything arrives, `shutdownWrite()` first.
    /// Idempotent.
    public func close() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            eventLoop.runOnLoop {
                if self.phase == .closed { return continuation.resume() }
                self.closeWaiters.append(continuation)
                // Bytes corked in this iteration were "written" as far as the caller knows:
                // hand them to the kernel before closing (whatever it refuses is dropped).
                if self.phase == .open { try? self.flushCork() }
                self.closeNow(readOutcome: .success(nil), writeError: IOError(.closed, operation: "write"))
            }
        }
    }

    /// For the driver of a connection kept open (`ConnectionOutcome.keepOpen`) that has
    /// callbacks to run after the socket closes: the listener's table (and so `serve`)
    /// keeps the connection until `driverFinished()` too. Loop thread.
    public func driverFinishesAfterClose() {
        marks.insert(.awaitsDriver)
    }

    /// See `driverFinishesAfterClose()`. Loop thread.
    public func driverFinished() {
        marks.insert(.driverDone)
        releaseTrackerIfDone()
    }

    /// Whether the listener may forget this connection: it has closed, and its driver (if
    /// it asked to be waited for) is done.
    var isFinished: Bool { phase == .closed && (!marks.contains(.awaitsDriver) || marks.contains(.driverDone)) }

    /// Tells the listener's table that keeps this connection (`Marks.tracked`) that it may
    /// forget it, once it is finished.
    func releaseTrackerIfDone() {
        guard isFinished, marks.contains(.tracked), let acceptor = acceptance?.acceptor else { return }
        marks.remove(.tracked)
        acceptor.keptOpenConnectionClosed(self)
    }

    /// Returns once the connection has closed, by either side (without closing it).
    /// Cancelling the waiting task closes the connection, as for a suspended read.
    public func waitUntilClosed() async {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                eventLoop.runOnLoop {
                    if self.phase == .closed { return continuation.resume() }
                    self.closeWaiters.append(continuation)
                }
            }
        } onCancel: {
            closeForCancellationSoon()
        }
    }

    /// Starts closing: stops reading, fails waiters once, closes the handle. Loop thread.
    func closeNow(readOutcome: Result<[UInt8]?, any Error>, writeError: any Error) {
        guard phase == .open else { return }
        phase = .closing
        if reading { uv_read_stop(handle.tcpAsStream); reading = false }
        readEnded = true
        if readError == nil, case .failure(let error) = readOutcome { readError = error }
        pending = []
        cork = []
        corkOwned = false
        if let reader {
            self.reader = nil
            reader.resume(with: readOutcome)
        }
        if let receiver {
            self.receiver = nil
            if case .failure(let error) = readOutcome { receiver.streamDidEnd(error) } else { receiver.streamDidEnd(nil) }
        }
        failWriters(writeError)
        if let shutdownWaiter {
            self.shutdownWaiter = nil
            shutdownWaiter.resume(throwing: writeError)
        }
        UVHandle.close(handle.tcpAsHandle) // pending uv_write requests complete with ECANCELED first
    }

    func failWriters(_ error: any Error) {
        let waiting = writers
        writers = []
        for writer in waiting { writer.resume(throwing: error) }
    }

    package func closeForShutdown() {
        let error = IOError(.eventLoopShutdown, operation: "tcp")
        closeNow(readOutcome: .failure(error), writeError: error)
    }

    package func handleDidClose() {
        phase = .closed
        if marks.contains(.admitted), let acceptance {
            marks.remove(.admitted)
            acceptance.acceptor.admission.release(acceptance.peer)
        }
        eventLoop.helper(LoopConnections.self) { LoopConnections(loop: eventLoop) }.remove(self)
        releaseTrackerIfDone()
        let waiting = closeWaiters
        closeWaiters = []
        for waiter in waiting { waiter.resume() }
    }

    /// Closes the connection from any thread because the task serving it was cancelled:
    /// pending reads end with `CancellationError`, as they would in a cancelled read.
    public func closeForCancellationSoon() {
        eventLoop.execute { self.closeForCancellation() }
    }

    /// Closes because the task that owned a suspended read or write was cancelled.
    func closeForCancellation() {
        closeNow(readOutcome: .failure(CancellationError()), writeError: CancellationError())
    }
}

/// What a `TCPConnection` keeps once it ends or someone waits for that: the writers
/// suspended on the high watermark, the error reading ended with, the `shutdownWrite`
/// waiter and the close waiters. Out of line, made on first
/// use, so that an open connection nobody waits on keeps one empty reference instead.
///
/// Guarantees: confined to its connection's loop, like the connection's other state.
final class TCPConnectionEnding {
    var writers: [UnsafeContinuation<Void, any Error>] = []
    var readError: (any Error)?
    var shutdownWaiter: UnsafeContinuation<Void, any Error>?
    var closeWaiters: [UnsafeContinuation<Void, Never>] = []
}

/// What a `TCPConnection` counts about itself, in 48 bytes rather than `TCPCounters`' 80
/// (every open connection keeps one): the bytes buffered and queued right now are not
/// stored but derived when the counters are read, and the rare events and high-water marks
/// are 32-bit, saturating at `UInt32.max`.
///
/// Guarantees: confined to its connection's loop; the byte and call counts are exact.
struct TCPTally {
    var bytesRead = 0
    var bytesWritten = 0
    var reads = 0
    var writeCalls = 0
    var readPauses = SaturatingCount()
    var writerSuspensions = SaturatingCount()
    var inboundBufferedHighWaterMark = SaturatingCount()
    var outboundQueuedHighWaterMark = SaturatingCount()
}

/// A 32-bit count or high-water mark that stops at `UInt32.max` instead of trapping.
struct SaturatingCount {
    private(set) var value: UInt32 = 0

    /// Adds one, unless at the maximum.
    @inline(__always)
    mutating func bump() {
        if value != .max { value += 1 }
    }

    /// Raises the mark to `count` (clamped to `UInt32.max`) if it is higher.
    @inline(__always)
    mutating func raise(to count: Int) {
        let clamped = UInt32(clamping: count)
        if clamped > value { value = clamped }
    }
}

extension Int {
    init(_ count: SaturatingCount) { self.init(count.value) }
}
