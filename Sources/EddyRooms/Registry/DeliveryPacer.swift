/// The timing rule of `RoomDelivery.coalesced`, as a value: given when each publish arrives,
/// it says whether the publish may go to the members with the current loop iteration, or waits
/// for a burst at the interval's end (and whether that burst's timer must be armed). Sans-IO;
/// a `RoomShard` keeps one and the publishes.
///
/// Guarantees: a publish at least `interval` after the last burst may go now (and opens a new
/// interval); any other publish waits, and bursts are at least `interval` apart; exactly one
/// publish per burst arms the timer (the first held one), at the end of the interval.
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
    private(set) var lastBurst: ContinuousClock.Instant?
    /// A burst is due (publishes are held).
    private(set) var isArmed = false

    init(interval: Duration) { self.interval = interval }

    mutating func publish(at now: ContinuousClock.Instant) -> Decision {
        guard !isArmed else { return .hold }
        guard let lastBurst, lastBurst.duration(to: now) < interval else {
            lastBurst = now
            return .deliverNow
        }
        isArmed = true
        return .holdAndArm(after: interval - lastBurst.duration(to: now))
    }

    /// The held publishes are being delivered now.
    mutating func burst(at now: ContinuousClock.Instant) {
        isArmed = false
        lastBurst = now
    }
}
