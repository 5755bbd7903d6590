/// The timing rule of `RoomDelivery.coalesced`, as a value: given when each publish arrives,
/// it says whether the publish may go to the members with the current loop iteration, or waits
/// for a burst at the spacing's end (and whether that burst's timer must be armed). Sans-IO;
/// a `RoomShard` keeps one and the publishes.
///
/// The spacing between bursts is `interval`, or twice the time the last burst took to write
/// if that is longer: the loop spends at most about half its time writing bursts, so under
/// load each burst carries more publishes in the same one write per member, instead of the
/// loop writing every member once per iteration and leaving nothing for reading.
///
/// Guarantees: a publish at least the spacing after the last burst began may go now (and
/// begins a new spacing); any other publish waits, and bursts begin at least the spacing
/// apart, also when the spacing grew after the timer was armed (`timerFired(at:)` says how
/// much longer to wait); exactly one publish per burst arms the timer (the first held one),
/// at the end of the spacing.
struct DeliveryPacer {
    enum Decision: Equatable {
        /// Deliver with the current loop iteration (the shard holds it to that iteration's end,
        /// with whatever else reaches the loop in it); no timer.
        case deliverNow
        /// Hold it, and arm the burst timer to fire after the delay.
        case holdAndArm(after: Duration)
        /// Hold it behind the publishes already waiting for the armed burst.
        case hold
    }

    let interval: Duration
    /// When the last burst (or a publish that went at once) began: spacing counts from here.
    private(set) var lastBurst: ContinuousClock.Instant?
    /// When the last burst began, for measuring how long it took to write.
    private var lastBurstStart: ContinuousClock.Instant?
    /// How long the last burst took, from its start until its members' writes were done
    /// (with whatever else the loop ran in between, when a socket's read handed it over
    /// mid-iteration: a busy loop spaces its bursts more).
    private(set) var lastBurstTook: Duration = .zero
    /// A burst is due (publishes are held).
    private(set) var isArmed = false
    /// The spacing the armed timer was set to end.
    private var armedSpacing: Duration = .zero

    init(interval: Duration) { self.interval = interval }

    /// The least time from one burst's start to the next one's: at most `maxSpacing` (or
    /// `interval`, if longer), so one burst slowed by something else (the loop's thread
    /// preempted, a huge backlog) delays the next by a bounded time.
    var spacing: Duration { max(interval, min(lastBurstTook * 2, Self.maxSpacing)) }

    /// The longest spacing a slow burst can cause.
    static let maxSpacing: Duration = .seconds(1)

    mutating func publish(at now: ContinuousClock.Instant) -> Decision {
        guard !isArmed else { return .hold }
        let spacing = spacing
        guard let lastBurst, lastBurst.duration(to: now) < spacing else {
            lastBurst = now
            return .deliverNow
        }
        isArmed = true
        armedSpacing = spacing
        return .holdAndArm(after: spacing - lastBurst.duration(to: now))
    }

    /// The burst timer fired at `now`. Nil: the burst is due. Otherwise how much longer the
    /// held publishes wait: the spacing grew after the timer was armed (the last burst, still
    /// being written then, took longer than the one before it), and the burst keeps to the
    /// new spacing. Less than `timerTolerance` left counts as due (the loop's timers are
    /// accurate to a millisecond).
    mutating func timerFired(at now: ContinuousClock.Instant) -> Duration? {
        let spacing = spacing
        guard isArmed, spacing > armedSpacing, let lastBurst else { return nil }
        let left = spacing - lastBurst.duration(to: now)
        guard left >= Self.timerTolerance else { return nil }
        armedSpacing = spacing
        return left
    }

    /// What is left of a spacing when its timer fires that still counts as its end.
    static let timerTolerance: Duration = .milliseconds(1)

    /// The held publishes are being delivered now.
    mutating func burst(at now: ContinuousClock.Instant) {
        isArmed = false
        lastBurst = now
        lastBurstStart = now
    }

    /// The last burst's writes are done (the members' sockets wrote what it gave them).
    mutating func burstWritten(at now: ContinuousClock.Instant) {
        guard let lastBurstStart else { return }
        lastBurstTook = lastBurstStart.duration(to: now)
    }
}
