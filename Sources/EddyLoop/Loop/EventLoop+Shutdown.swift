import CLibUV
import Dispatch

/// What an event loop found when its thread stopped.
public struct ShutdownReport: Sendable, Equatable, CustomStringConvertible {
    /// libuv handles still open after the loop stopped running (`uv_walk`); 0 when every
    /// owner closed what it opened.
    public let handlesLeftOpen: Int
    /// `uv_loop_close`'s status: 0, or `UV_EBUSY` if handles or requests were left.
    public let loopCloseStatus: Int32

    /// Whether the loop stopped with nothing left open.
    public var isClean: Bool { handlesLeftOpen == 0 && loopCloseStatus == 0 }

    public var description: String {
        isClean ? "clean" : "\(handlesLeftOpen) handle(s) left open, uv_loop_close=\(loopCloseStatus)"
    }
}

extension EventLoop {
    /// Shuts the loop down in order and waits for its thread to end.
    ///
    /// Order: every resource the loop owns (listeners, connections, timers) is closed and
    /// each pending continuation is failed with `IOError.Code.eventLoopShutdown`, exactly
    /// once; the work this produces runs; then the loop's own handles are closed, libuv's
    /// loop is closed and the thread is joined. Idempotent.
    @discardableResult
    public func shutdown() async -> ShutdownReport {
        execute { self.beginShutdown() }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            whenTerminated { continuation.resume() }
        }
        return joinThread()
    }

    /// Blocking form of `shutdown()`, for code outside Swift concurrency.
    ///
    /// - Important: Must not be called on this loop's thread (it would wait for itself).
    @discardableResult
    public func syncShutdown() -> ShutdownReport {
        precondition(!inEventLoop, "syncShutdown() called on the event loop it shuts down")
        let done = DispatchSemaphore(value: 0)
        execute { self.beginShutdown() }
        whenTerminated { done.signal() }
        done.wait()
        return joinThread()
    }

    /// Starts the shutdown without waiting for it.
    func initiateShutdown() {
        execute { self.beginShutdown() }
    }

    /// Whether the loop has started shutting down or has stopped. Loop-thread only.
    package var isShuttingDown: Bool { lifecycle != .running }

    /// Registers a resource to close at shutdown. Returns false (and registers nothing)
    /// if the loop is already shutting down. Loop-thread only.
    package func register(_ resource: any LoopResource) -> Bool {
        guard lifecycle == .running else { return false }
        resources[ObjectIdentifier(resource)] = resource
        return true
    }

    /// Forgets a resource once its handles are closed. Loop-thread only.
    package func deregister(_ resource: any LoopResource) {
        resources.removeValue(forKey: ObjectIdentifier(resource))
        if lifecycle == .shuttingDown { execute { self.continueShutdown() } }
    }

    func beginShutdown() {
        guard lifecycle == .running else { return }
        lifecycle = .shuttingDown
        for resource in Array(resources.values) { resource.closeForShutdown() }
        continueShutdown()
    }

    /// Finishes the shutdown once nothing is open and nothing is queued.
    func continueShutdown() {
        guard lifecycle == .shuttingDown, resources.isEmpty, !hasLocalWork else { return }
        guard markTerminatedIfIdle() else { return } // queued remote work runs first
        lifecycle = .terminated
        closeOwnHandles()
    }
}
