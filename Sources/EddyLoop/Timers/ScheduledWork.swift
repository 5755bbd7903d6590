import CLibUV

/// Work run on an event loop after a delay: a `uv_timer_t` with a closure, for protocol
/// timers (handshake deadlines, close timers, keep-alive ticks) that should cost no task.
///
/// Two ways to use it:
/// - `EventLoop.schedule(after:)` / `scheduleRepeating(every:)`: started at once; a one-shot
///   releases its handle after it ran, `cancel()` stops either kind.
/// - `ScheduledWork(on:_:)`, then `start(after:)` any number of times: a deadline that moves
///   with the phases of an exchange (waiting for a request, reading it, writing the response)
///   on one handle, with no allocation per phase; `stop()` disarms it, `cancel()` releases it
///   (the owner must call it: until then the handle keeps the work, and `body`'s captures,
///   alive).
///
/// Guarantees: `body` runs on the loop's thread, at most once per `start` (every interval
/// when repeating); a `start` replaces any pending expiry; once `stop()` or `cancel()` has
/// taken effect on the loop, `body` does not run before the next `start` (never again after
/// `cancel()`). Every method may be called from any thread; on the loop's thread it takes
/// effect at once and allocates nothing. Loop shutdown closes the handle.
public final class ScheduledWork: LoopResource, UVHandleOwner, @unchecked Sendable {
    private let loop: EventLoop
    private let body: @Sendable () -> Void
    /// A one-shot from `schedule(after:)`: the handle is released once the body has run.
    private let releasesAfterFiring: Bool
    // Loop-thread state.
    private var timer: UnsafeMutablePointer<uv_timer_t>?
    private var cancelled = false

    /// Work that runs `body` on `loop` each time it is started and expires; not started yet.
    public convenience init(on loop: EventLoop, _ body: @escaping @Sendable () -> Void) {
        self.init(loop: loop, releasesAfterFiring: false, body: body)
    }

    fileprivate init(loop: EventLoop, releasesAfterFiring: Bool, body: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.releasesAfterFiring = releasesAfterFiring
        self.body = body
    }

    /// Runs `body` after `delay`, replacing any expiry still pending.
    public func start(after delay: Duration) {
        let milliseconds = EventLoop.milliseconds(roundingUp: delay)
        loop.runOnLoop { self.startOnLoop(delay: milliseconds, interval: 0) }
    }

    /// Disarms the pending expiry, if any; the work may be started again.
    public func stop() {
        loop.runOnLoop { if let timer = self.timer { uv_timer_stop(timer) } }
    }

    /// Cancels the work for good and releases its handle. Safe from any thread; idempotent.
    public func cancel() {
        loop.runOnLoop { self.release() }
    }

    fileprivate func startOnLoop(delay: UInt64, interval: UInt64) {
        guard !cancelled else { return }
        if timer == nil {
            guard loop.register(self) else {
                cancelled = true // the loop is shutting down: nothing will run
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
            UVHandle.owner(of: timer!.asUVHandle, as: ScheduledWork.self).fire()
        }, delay, interval)
    }

    private func fire() {
        guard !cancelled else { return }
        if releasesAfterFiring { release() }
        body()
    }

    private func release() {
        cancelled = true
        guard let timer else { return }
        self.timer = nil
        uv_timer_stop(timer)
        UVHandle.close(timer.asUVHandle)
    }

    package func closeForShutdown() { release() }

    package func handleDidClose() { loop.deregister(self) }
}

extension EventLoop {
    /// Runs `body` on this loop once, after `delay`. Cancel with the returned handle.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> ScheduledWork {
        let work = ScheduledWork(loop: self, releasesAfterFiring: true, body: body)
        let milliseconds = Self.milliseconds(roundingUp: delay)
        runOnLoop { work.startOnLoop(delay: milliseconds, interval: 0) }
        return work
    }

    /// Runs `body` on this loop every `interval`, first after one interval.
    @discardableResult
    public func scheduleRepeating(every interval: Duration, _ body: @escaping @Sendable () -> Void) -> ScheduledWork {
        let work = ScheduledWork(loop: self, releasesAfterFiring: false, body: body)
        let milliseconds = max(1, Self.milliseconds(roundingUp: interval))
        runOnLoop { work.startOnLoop(delay: milliseconds, interval: milliseconds) }
        return work
    }
}
