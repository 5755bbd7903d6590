/// A `Clock` whose sleeps are libuv timers on one event loop.
///
/// Its instants are `ContinuousClock` instants, so deadlines computed with either clock
/// compare directly. Resolution is one millisecond (libuv's timer granularity).
public struct LoopClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant
    public typealias Duration = Swift.Duration

    public let loop: EventLoop

    public init(loop: EventLoop) { self.loop = loop }

    public var now: Instant { ContinuousClock.now }
    public var minimumResolution: Duration { .milliseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try await loop.sleep(until: deadline)
    }
}

extension EventLoop {
    /// This loop's clock.
    public var clock: LoopClock { LoopClock(loop: self) }
}
