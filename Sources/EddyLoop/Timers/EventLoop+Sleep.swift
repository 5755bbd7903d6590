extension EventLoop {
    /// Suspends the calling task for `duration`, timed by this loop's libuv timers
    /// (millisecond resolution, rounded up).
    ///
    /// Throws `CancellationError` if the task is cancelled first, and
    /// `IOError.Code.eventLoopShutdown` if the loop shuts down first.
    public func sleep(for duration: Duration) async throws {
        let milliseconds = Self.milliseconds(roundingUp: duration)
        let timer = SleepTimer(loop: self)
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                runOnLoop { timer.start(milliseconds: milliseconds, continuation: continuation) }
            }
        } onCancel: {
            execute { timer.cancel() }
        }
    }

    /// Suspends the calling task until `deadline`.
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let remaining = ContinuousClock.now.duration(to: deadline)
        try await sleep(for: max(remaining, .zero))
    }

    static func milliseconds(roundingUp duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let ms = UInt64(seconds) &* 1000 + UInt64(attoseconds / 1_000_000_000_000_000)
        return attoseconds % 1_000_000_000_000_000 > 0 ? ms + 1 : ms
    }
}
