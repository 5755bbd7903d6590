public import CEddyTally

/// The calling thread's metric tallies: plain counters in thread-local memory that each event
/// loop's thread owns, folded into swift-metrics by `TallyFolder` on that same thread.
///
/// Guarantees: `add` touches only the calling thread's memory (no lock, no atomic read-modify-
/// write, no cache line shared with another core), so counting a message costs about as much
/// as an integer add; `take` returns exactly what this thread added since its last `take`. A
/// thread whose tallies are never taken (not a loop thread) only loses its own counts.
public enum LoopTally {
    /// Slots available (`TallyCounter`'s cases fit in them).
    public static let slotCount = Int(EDDY_TALLY_SLOTS)

    /// Adds `amount` (may be negative for a gauge) to this thread's tally of `counter`.
    @inlinable
    public static func add(_ counter: TallyCounter, _ amount: Int = 1) {
        eddy_tally_add(UInt32(truncatingIfNeeded: counter.rawValue), Int64(amount))
    }

    /// Whether adds count. On by default; `--no-metrics` turns it off before any loop starts,
    /// so the benchmarks can compare (an add is then one predictable branch).
    public static func setEnabled(_ enabled: Bool) {
        eddy_tally_set_enabled(enabled ? 1 : 0)
    }

    /// This thread's tallies since its last `take` (indexed by `TallyCounter.rawValue`), which
    /// are zeroed.
    public static func take() -> [Int64] {
        var slots = [Int64](repeating: 0, count: slotCount)
        slots.withUnsafeMutableBufferPointer { eddy_tally_take($0.baseAddress) }
        return slots
    }
}
