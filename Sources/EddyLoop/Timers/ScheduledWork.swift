import CLibUV

/// Work scheduled to run on an event loop after a delay, optionally repeating: a
/// `uv_timer_t` with a closure, for protocol timers (handshake deadlines, close timers,
/// keep-alive ticks) that should cost no task.
///
/// Guarantees: `body` runs on the loop's thread; after `cancel()` returns on the loop's
/// thread, `body` never runs again; the timer handle is closed on cancel, after a one-shot
/// run, and at loop shutdown.
public final class ScheduledWork: LoopResource, UVHandleOwner, @unchecked Sendable {
    private let loop: EventLoop
    private let body: @Sendable () -> Void
    private var timer: UnsafeMutablePointer<uv_timer_t>?
    private var cancelled = false
    private let repeating: Bool

    fileprivate init(loop: EventLoop, repeating: Bool, body: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.repeating = repeating
        self.body = body
    }

    fileprivate func start(delay: UInt64, interval: UInt64) {
        guard !cancelled, loop.register(self) else { return }
        let timer = UVHandle.allocate(uv_timer_t.self)
        uv_timer_init(loop.uv, timer)
        UVHandle.retain(self, in: timer.asUVHandle)
        self.timer = timer
        uv_update_time(loop.uv)
        uv_timer_start(timer, { timer in
            UVHandle.owner(of: timer!.asUVHandle, as: ScheduledWork.self).fire()
        }, delay, interval)
    }

    private func fire() {
        guard !cancelled else { return }
        if !repeating { stop() }
        body()
    }

    /// Cancels the work. Safe from any thread; idempotent.
    public func cancel() {
        loop.runOnLoop { self.stop() }
    }

    private func stop() {
        cancelled = true
        if let timer {
            self.timer = nil
            uv_timer_stop(timer)
            UVHandle.close(timer.asUVHandle)
        }
    }

    package func closeForShutdown() { stop() }

    package func handleDidClose() { loop.deregister(self) }
}

extension EventLoop {
    /// Runs `body` on this loop once, after `delay`. Cancel with the returned handle.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> ScheduledWork {
        let work = ScheduledWork(loop: self, repeating: false, body: body)
        let ms = Self.milliseconds(roundingUp: delay)
        runOnLoop { work.start(delay: ms, interval: 0) }
        return work
    }

    /// Runs `body` on this loop every `interval`, first after one interval.
    @discardableResult
    public func scheduleRepeating(every interval: Duration, _ body: @escaping @Sendable () -> Void) -> ScheduledWork {
        let work = ScheduledWork(loop: self, repeating: true, body: body)
        let ms = max(1, Self.milliseconds(roundingUp: interval))
        runOnLoop { work.start(delay: ms, interval: ms) }
        return work
    }
}
