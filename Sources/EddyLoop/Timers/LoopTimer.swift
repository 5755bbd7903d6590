import CLibUV

/// One libuv timer that is started, restarted and stopped any number of times: a deadline
/// that moves with the phases of an exchange (waiting for a request, reading it, writing the
/// response) on a single handle, where `ScheduledWork` opens and closes a handle per use.
///
/// Guarantees: `body` runs on the loop's thread, at most once per `start`; a `start`
/// replaces any pending expiry; once `stop()` or `close()` has taken effect on the loop,
/// `body` does not run before the next `start` (never again after `close`). Every method may
/// be called from any thread; on the loop's thread it takes effect at once and allocates
/// nothing. The first `start` opens the handle; the owner must call `close()` when done (the
/// handle keeps the timer, and so `body`'s captures, alive until then), and loop shutdown
/// closes it too.
public final class LoopTimer: LoopResource, UVHandleOwner, @unchecked Sendable {
    private let loop: EventLoop
    private let body: @Sendable () -> Void
    // Loop-thread state.
    private var timer: UnsafeMutablePointer<uv_timer_t>?
    private var closed = false

    public init(on loop: EventLoop, _ body: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.body = body
    }

    /// Runs `body` after `delay`, replacing any expiry still pending.
    public func start(after delay: Duration) {
        let milliseconds = EventLoop.milliseconds(roundingUp: delay)
        loop.runOnLoop { self.startOnLoop(milliseconds) }
    }

    /// Cancels the pending expiry, if any. The timer may be started again.
    public func stop() {
        loop.runOnLoop { if let timer = self.timer { uv_timer_stop(timer) } }
    }

    /// Cancels the pending expiry and releases the handle. Idempotent.
    public func close() {
        loop.runOnLoop { self.closeOnLoop() }
    }

    private func startOnLoop(_ milliseconds: UInt64) {
        guard !closed else { return }
        if timer == nil {
            guard loop.register(self) else {
                closed = true // the loop is shutting down: nothing will fire
                return
            }
            let handle = UVHandle.allocate(uv_timer_t.self)
            uv_timer_init(loop.uv, handle)
            UVHandle.retain(self, in: handle.asUVHandle)
            timer = handle
        }
        guard let timer else { return }
        // A long run of work since the loop last polled must not shorten the delay.
        uv_update_time(loop.uv)
        uv_timer_start(timer, { timer in
            UVHandle.owner(of: timer!.asUVHandle, as: LoopTimer.self).fire()
        }, milliseconds, 0)
    }

    private func fire() {
        guard !closed else { return }
        body()
    }

    private func closeOnLoop() {
        closed = true
        guard let timer else { return }
        self.timer = nil
        uv_timer_stop(timer)
        UVHandle.close(timer.asUVHandle)
    }

    package func closeForShutdown() { closeOnLoop() }

    package func handleDidClose() { loop.deregister(self) }
}
