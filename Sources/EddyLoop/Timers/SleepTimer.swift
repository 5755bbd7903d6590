import CLibUV

/// One pending `sleep` on an event loop: a `uv_timer_t` plus the continuation it resumes.
///
/// The state machine resumes the continuation exactly once, whichever of fire, cancel or
/// shutdown comes first; a cancel that arrives before the timer is armed wins too.
/// Loop-thread confined.
final class SleepTimer: LoopResource, UVHandleOwner, @unchecked Sendable {
    private enum State {
        case created
        case cancelledEarly
        case armed(UnsafeContinuation<Void, any Error>, UnsafeMutablePointer<uv_timer_t>)
        case finished
    }

    private let loop: EventLoop
    private var state = State.created

    init(loop: EventLoop) { self.loop = loop }

    /// Arms the timer for `milliseconds` from the loop's current time.
    func start(milliseconds: UInt64, continuation: UnsafeContinuation<Void, any Error>) {
        switch state {
        case .cancelledEarly:
            state = .finished
            continuation.resume(throwing: CancellationError())
        case .created:
            guard loop.register(self) else {
                state = .finished
                continuation.resume(throwing: IOError(.eventLoopShutdown, operation: "sleep"))
                return
            }
            let timer = UVHandle.allocate(uv_timer_t.self)
            uv_timer_init(loop.uv, timer)
            UVHandle.retain(self, in: timer.asUVHandle)
            state = .armed(continuation, timer)
            uv_update_time(loop.uv) // timers are relative to the cached loop time
            uv_timer_start(timer, { timer in
                UVHandle.owner(of: timer!.asUVHandle, as: SleepTimer.self).finish(with: nil)
            }, milliseconds, 0)
        case .armed, .finished:
            preconditionFailure("SleepTimer started twice")
        }
    }

    func cancel() {
        switch state {
        case .created: state = .cancelledEarly
        case .armed: finish(with: CancellationError())
        case .cancelledEarly, .finished: break
        }
    }

    func closeForShutdown() {
        finish(with: IOError(.eventLoopShutdown, operation: "sleep"))
    }

    private func finish(with error: (any Error)?) {
        guard case .armed(let continuation, let timer) = state else { return }
        state = .finished
        uv_timer_stop(timer)
        UVHandle.close(timer.asUVHandle)
        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
    }

    func handleDidClose() {
        loop.deregister(self)
    }
}
