package import CLibUV
// Public: `inEventLoop` is inlinable and reads the C thread-local marker directly.
public import CEddyShims
import Dispatch
import EddyShared

/// One thread running one libuv loop (`uv_loop_t`).
///
/// An `EventLoop` is a `TaskExecutor` and has a `SerialExecutor`: tasks can prefer it
/// (`withTaskExecutorPreference`, `Task(executorPreference:)`) and actors can be bound to it
/// (`unownedExecutor` = `loop.asUnownedSerialExecutor()`), so that I/O callbacks and the
/// Swift code consuming them run on the same thread without an executor hop.
///
/// Guarantees:
/// - Work submitted from one thread runs in submission order (FIFO), never inline inside
///   `enqueue`/`execute`, and never concurrently with other work on this loop.
/// - Submission from the loop's own thread costs no system call; submission from other
///   threads wakes the loop with one `uv_async_send` per empty-to-non-empty transition,
///   and the loop drains the whole queue per wake-up.
/// - After shutdown, work that still arrives (for example a task resumed by the shutdown
///   itself) runs on a serial after-life queue that keeps this loop's isolation, so no job
///   is ever dropped.
///
/// - Important: libuv handles belonging to this loop are touched only on its thread.
public final class EventLoop: @unchecked Sendable {
    /// Lifecycle of the loop thread. Loop-thread state.
    enum Lifecycle { case running, shuttingDown, terminated }

    /// Position of this loop in its group (0 for a standalone loop).
    public let index: Int
    /// The libuv loop. Touch only on this loop's thread.
    package let uv: UnsafeMutablePointer<uv_loop_t>
    /// A 64 KiB buffer that every read on this loop lands in before the bytes a consumer
    /// keeps are copied out, so an idle connection owns no receive buffer.
    package let receiveBuffer: UnsafeMutableRawBufferPointer

    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let check: UnsafeMutablePointer<uv_check_t>
    private let idle: UnsafeMutablePointer<uv_idle_t>
    private let remote = Mutex(RemoteQueue())
    private let afterlife: DispatchQueue
    /// This loop as the serial executor of actors bound to it (see `EventLoop+Executor`).
    let serialExecutor = LoopSerialExecutor()

    // Loop-thread state. The fields touched per read, write or job are
    // `@exclusivity(unchecked)`: only the loop's thread touches them and no access overlaps
    // another, so the runtime's dynamic exclusivity check proves nothing (see WebSocket.swift).
    @exclusivity(unchecked) private var local: [LoopWork] = []
    @exclusivity(unchecked) private var draining: [LoopWork] = []
    @exclusivity(unchecked) private var remoteBatch: [LoopWork] = []
    @exclusivity(unchecked) private var idleActive = false
    @exclusivity(unchecked) private var corked: [any EndOfIterationFlushable] = []
    @exclusivity(unchecked) private var flushing: [any EndOfIterationFlushable] = []
    /// Output held back until the end of this iteration (see `holdOutputUntilIterationEnd`).
    @exclusivity(unchecked) private var held: [any EndOfIterationFlushable] = []
    /// `!held.isEmpty`, for the inlinable `handOverHeldOutput`.
    @usableFromInline @exclusivity(unchecked) var holdsOutput = false
    @exclusivity(unchecked) private var handingOver: [any EndOfIterationFlushable] = []
    @exclusivity(unchecked) private var handingOverHeld = false
    /// Told once this iteration's corks are all written (see `afterOutputIsWritten`).
    @exclusivity(unchecked) private var afterOutput: [any EndOfIterationFlushable] = []
    /// Write buffers given back after a flush, for the next iteration's corks
    /// (`WriteBufferPool`).
    @exclusivity(unchecked) var writeBuffers = WriteBufferPool()
    var lifecycle = Lifecycle.running
    package var resources: [ObjectIdentifier: any LoopResource] = [:]
    /// Jobs of tasks preferring this loop run so far (for tests of executor switching).
    package private(set) var jobsRun = 0
    /// Per-loop helpers of higher layers (one keep-alive ticker for all of a loop's
    /// WebSockets …), created on first use. Loop thread.
    private var helpers: [ObjectIdentifier: AnyObject] = [:]

    /// This loop's instance of `T`, made by `make` on first use; it lives as long as the
    /// loop. Loop thread only.
    package func helper<T: AnyObject>(_ type: T.Type, make: () -> T) -> T {
        let key = ObjectIdentifier(type)
        if let existing = helpers[key] as? T { return existing }
        let made = make()
        helpers[key] = made
        return made
    }

    private let termination = Mutex(Termination())
    private struct Termination {
        var finished = false
        var joined = false
        var waiters: [@Sendable () -> Void] = []
        var report = ShutdownReport(handlesLeftOpen: 0, loopCloseStatus: 0)
    }
    private var thread = pthread_t()

    /// Creates a loop and starts its thread.
    public convenience init() throws(IOError) {
        try self.init(index: 0, name: "eddy-loop-0")
    }

    init(index: Int, name: String) throws(IOError) {
        _ = Self.ignoreSIGPIPE
        self.index = index
        self.afterlife = DispatchQueue(label: "\(name).afterlife")
        uv = UVHandle.allocate(uv_loop_t.self)
        wakeup = UVHandle.allocate(uv_async_t.self)
        check = UVHandle.allocate(uv_check_t.self)
        idle = UVHandle.allocate(uv_idle_t.self)
        receiveBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)

        let status = uv_loop_init(uv)
        guard status == 0 else {
            for p in [UnsafeMutableRawPointer(uv), UnsafeMutableRawPointer(wakeup),
                      UnsafeMutableRawPointer(check), UnsafeMutableRawPointer(idle)] { p.deallocate() }
            receiveBuffer.deallocate()
            throw IOError(uv: status, operation: "uv_loop_init")
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        uv.pointee.data = me
        wakeup.pointee.data = me
        check.pointee.data = me
        idle.pointee.data = me
        uv_async_init(uv, wakeup) { handle in
            EventLoop.from(handle!.pointee.data).drainRemote()
        }
        uv_check_init(uv, check)
        uv_check_start(check) { handle in
            EventLoop.from(handle!.pointee.data).drainLocal()
        }
        uv_unref(check.asUVHandle) // the check handle alone must not keep the loop alive
        uv_idle_init(uv, idle)
        serialExecutor.loop = self
        startThread(name: name)
    }

    /// libuv writes with plain `write(2)`: a peer that closed makes it raise SIGPIPE, whose
    /// default action kills the process. Eddy reports `EPIPE` as an `IOError` instead, so
    /// the first loop created sets SIGPIPE to ignored, process-wide (as servers do).
    private static let ignoreSIGPIPE: Void = {
        _ = eddy_ignore_sigpipe()
    }()

    @inline(__always)
    static func from(_ data: UnsafeMutableRawPointer?) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Whether the calling thread is this loop's thread (or its after-life queue).
    @inline(__always)
    @inlinable
    public var inEventLoop: Bool {
        // Inlinable: asked for every message sent (one thread-local load and a compare).
        eddy_current_loop_get() == Unmanaged.passUnretained(self).toOpaque()
    }

    /// The loop that owns the calling thread, if any.
    public static var current: EventLoop? {
        CurrentLoop.pointer.map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: Submission

    /// Runs `work` on this loop's thread, after the work already queued from this thread.
    ///
    /// Never runs `work` inline, even when called on the loop's own thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        submit(.closure(work))
    }

    /// Runs `work` inline when called on this loop's thread, otherwise submits it.
    package func runOnLoop(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop && lifecycle != .terminated { work() } else { submit(.closure(work)) }
    }

    /// Runs `body` on this loop and returns its result.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            execute {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    func submit(_ work: LoopWork) {
        if inEventLoop {
            if lifecycle == .terminated {
                afterlife.async { self.runInAfterlife(work) }
                return
            }
            local.append(work)
            if !idleActive {
                idleActive = true
                uv_idle_start(idle) { handle in EventLoop.from(handle!.pointee.data).drainLocal() }
            }
            return
        }
        remote.withLock { queue in
            if queue.terminated {
                // Under the lock, so after-life order matches submission order.
                afterlife.async { self.runInAfterlife(work) }
                return
            }
            queue.items.append(work)
            if queue.items.count == 1 {
                // Under the lock: the loop closes `wakeup` only after setting `terminated`
                // under this same lock, so the handle is alive here.
                uv_async_send(wakeup)
            }
        }
    }

    // MARK: Draining (loop thread)

    @inline(__always)
    private func run(_ work: LoopWork) {
        switch work {
        case .job(let job):
            jobsRun &+= 1
            job.runSynchronously(on: asUnownedTaskExecutor())
        case .isolatedJob(let job):
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        case .closure(let body):
            body()
        }
    }

    private func runInAfterlife(_ work: LoopWork) {
        let previous = CurrentLoop.pointer
        CurrentLoop.set(Unmanaged.passUnretained(self).toOpaque())
        run(work)
        CurrentLoop.set(previous)
    }

    private func drainRemote() {
        var batch = remoteBatch
        remoteBatch = []
        remote.withLock { swap(&$0.items, &batch) }
        for work in batch { run(work) }
        batch.removeAll(keepingCapacity: true)
        remoteBatch = batch
        drainLocal()
    }

    /// Runs locally queued work until the queue is empty or a fairness budget is spent;
    /// leftovers keep the idle handle running so the loop polls I/O without blocking.
    private func drainLocal() {
        var rounds = 0
        while !local.isEmpty && rounds < 16 {
            swap(&local, &draining)
            for work in draining { run(work) }
            draining.removeAll(keepingCapacity: true)
            rounds += 1
        }
        flushCorked()
        if local.isEmpty {
            if idleActive { idleActive = false; uv_idle_stop(idle) }
        } else if !idleActive {
            idleActive = true
            uv_idle_start(idle) { handle in EventLoop.from(handle!.pointee.data).drainLocal() }
        }
        if lifecycle == .shuttingDown { continueShutdown() }
    }

    // MARK: Corking (loop thread)

    /// Asks for `flushable.flush()` once the work queued in this loop iteration has run,
    /// so that everything a task writes to one socket in one iteration goes out in one
    /// system call. Loop thread only; registering twice before a flush is allowed. On a
    /// stopped loop (a job on its after-life queue) there is no iteration left to wait for,
    /// and its handles are closed: `flushable` is flushed at once.
    package func flushAtEndOfIteration(_ flushable: any EndOfIterationFlushable) {
        guard lifecycle != .terminated else { return flushable.flushAtEndOfIteration() }
        corked.append(flushable)
        comeBackBeforePolling()
    }

    /// Asks for `observer.flushAtEndOfIteration()` once everything written in this loop
    /// iteration has been handed to the kernel: after the last cork, including corks that
    /// flushing others registered (a TLS stream's records go to its TCP connection's cork).
    /// Nothing happens once the loop has stopped. Loop thread only.
    package func afterOutputIsWritten(_ observer: any EndOfIterationFlushable) {
        guard lifecycle == .running else { return }
        afterOutput.append(observer)
        comeBackBeforePolling()
    }

    /// Makes sure the loop comes back to drain (and flush) before it blocks in poll.
    private func comeBackBeforePolling() {
        if !idleActive {
            idleActive = true
            uv_idle_start(idle) { handle in EventLoop.from(handle!.pointee.data).drainLocal() }
        }
    }

    /// Registers `holder` as holding output back until the end of this loop iteration (a
    /// room's per-iteration delivery) that must leave before anything else written on this
    /// loop: its `flushAtEndOfIteration()` runs once, at the iteration's end before the corks
    /// are written, or earlier, when a socket is about to write something of its own
    /// (`handOverHeldOutput()`). Loop thread only; registering twice before a flush is allowed.
    /// On a stopped loop, `holder` is flushed at once (as `flushAtEndOfIteration` does).
    package func holdOutputUntilIterationEnd(_ holder: any EndOfIterationFlushable) {
        guard lifecycle != .terminated else { return holder.flushAtEndOfIteration() }
        held.append(holder)
        holdsOutput = true
        comeBackBeforePolling()
    }

    /// Hands over the output held back in this iteration (`holdOutputUntilIterationEnd`)
    /// now. A socket calls this before it writes anything that did not come from a holder,
    /// and before it processes a read, so held output keeps its place before it; with
    /// nothing held it is one comparison. Loop thread only.
    @inlinable
    package func handOverHeldOutput() {
        // Inlinable: asked before every read and every direct write; usually nothing is held.
        if holdsOutput { handOverHeldOutputNow() }
    }

    @usableFromInline
    func handOverHeldOutputNow() {
        // What a holder writes calls back here: that call returns at once, and the loop
        // below goes on with whatever is held, in order.
        guard !handingOverHeld else { return }
        handingOverHeld = true
        defer { handingOverHeld = false }
        while !held.isEmpty {
            swap(&handingOver, &held)
            for holder in handingOver { holder.flushAtEndOfIteration() }
            handingOver.removeAll(keepingCapacity: true)
        }
        holdsOutput = false
    }

    private func flushCorked() {
        if corked.isEmpty && held.isEmpty && afterOutput.isEmpty {
            writeBuffers.releaseIfUnused(now: uv_now(uv))
            return
        }
        // Held output before the corks (what it hands over is corked too), until neither
        // is left.
        while !corked.isEmpty || (!held.isEmpty && !handingOverHeld) {
            handOverHeldOutput()
            // Two arrays swapped back and forth keep their capacity: no allocation per
            // iteration.
            swap(&flushing, &corked)
            for flushable in flushing { flushable.flushAtEndOfIteration() }
            flushing.removeAll(keepingCapacity: true)
        }
        if !afterOutput.isEmpty {
            swap(&flushing, &afterOutput)
            for observer in flushing { observer.flushAtEndOfIteration() }
            flushing.removeAll(keepingCapacity: true)
        }
    }

    // MARK: Shutdown support (loop thread)

    var hasLocalWork: Bool { !local.isEmpty }

    /// Marks the remote queue terminated if it is empty; later submissions go to the
    /// after-life queue.
    func markTerminatedIfIdle() -> Bool {
        remote.withLock { queue in
            guard queue.items.isEmpty else { return false }
            queue.terminated = true
            return true
        }
    }

    /// Closes the loop's own handles; `uv_run` returns once their callbacks have run.
    func closeOwnHandles() {
        if idleActive { idleActive = false; uv_idle_stop(idle) }
        uv_check_stop(check)
        for handle in [wakeup.asUVHandle, check.asUVHandle, idle.asUVHandle] {
            uv_close(handle) { handle in UnsafeMutableRawPointer(handle!).deallocate() }
        }
    }

    /// Calls `body` once the thread has finished (immediately if it already has).
    func whenTerminated(_ body: @escaping @Sendable () -> Void) {
        let finished = termination.withLock { state in
            if !state.finished { state.waiters.append(body) }
            return state.finished
        }
        if finished { body() }
    }

    /// Joins the finished thread once and returns the shutdown report.
    func joinThread() -> ShutdownReport {
        let (report, join) = termination.withLock { state in
            defer { state.joined = true }
            return (state.report, !state.joined)
        }
        if join { pthread_join(thread, nil) }
        return report
    }

    // MARK: Thread

    private final class ThreadStart {
        let loop: EventLoop
        let name: String
        init(loop: EventLoop, name: String) { self.loop = loop; self.name = name }
    }

    private func startThread(name: String) {
        let start = Unmanaged.passRetained(ThreadStart(loop: self, name: name)).toOpaque()
        let status = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
            _ = eddy_set_thread_name(String(start.name.prefix(15)))
            start.loop.threadMain()
            return nil
        }, start)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    private func threadMain() {
        CurrentLoop.set(Unmanaged.passUnretained(self).toOpaque())
        uv_run(uv, UV_RUN_DEFAULT)
        // Every handle has been closed (see `continueShutdown`); count any that leaked.
        var open: Int32 = 0
        uv_walk(uv, { _, argument in argument!.assumingMemoryBound(to: Int32.self).pointee += 1 }, &open)
        let closeStatus = uv_loop_close(uv)
        CurrentLoop.set(nil)
        let waiters = termination.withLock { state in
            state.finished = true
            state.report = ShutdownReport(handlesLeftOpen: Int(open), loopCloseStatus: closeStatus)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter() }
    }

    deinit {
        receiveBuffer.deallocate()
        UnsafeMutableRawPointer(uv).deallocate()
    }
}

/// Something that batches work during a loop iteration and finishes it at the end
/// (a corked socket). See `EventLoop.flushAtEndOfIteration(_:)`.
package protocol EndOfIterationFlushable: AnyObject {
    /// Called on the loop thread after the iteration's queued work has run.
    func flushAtEndOfIteration()
}
