public import CEddyTally
import EddyLoop
import EddyShared

/// The calling thread's metric tallies: plain counters in thread-local memory that each event
/// loop's thread owns, folded into swift-metrics by `TallyFolder` on that same thread.
///
/// Guarantees: `add` touches only the calling thread's memory (no lock, no atomic read-modify-
/// write, no cache line shared with another core), so counting a message costs about as much
/// as an integer add; `take` returns exactly what this thread added since its last `take`. A
/// thread whose tallies are never taken (not a loop thread) only loses its own counts: what is
/// counted off the loops goes through `addFromAnyThread`, into a shared tally that every fold
/// takes too.
public enum LoopTally {
    /// Slots available (`TallyCounter`'s cases fit in them).
    public static let slotCount = Int(EDDY_TALLY_SLOTS)

    /// Adds `amount` (may be negative for a gauge) to this thread's tally of `counter`.
    @inlinable
    public static func add(_ counter: TallyCounter, _ amount: Int = 1) {
        eddy_tally_add(UInt32(truncatingIfNeeded: counter.rawValue), Int64(amount))
    }

    /// Adds `amount` to `counter` from any thread: on an event loop's thread to its own tally
    /// (as `add` does), elsewhere to one shared tally (behind a lock) that the next fold on
    /// any loop takes (`TallyFolder.foldCurrentThread`). For counts made off the loops, such
    /// as a broadcast message compressed on the global executor, which a thread's own tally
    /// would lose.
    public static func addFromAnyThread(_ counter: TallyCounter, _ amount: Int = 1) {
        if EventLoop.current != nil { return add(counter, amount) }
        guard eddy_tally_is_enabled() != 0, counter.rawValue < slotCount else { return }
        offLoop.withLock { $0[counter.rawValue] += Int64(amount) }
    }

    /// What `addFromAnyThread` counted off the loops since the last call, which is zeroed.
    public static func takeOffLoop() -> [Int64] {
        offLoop.withLock { tallies in
            defer { tallies = [Int64](repeating: 0, count: slotCount) }
            return tallies
        }
    }

    private static let offLoop = Mutex([Int64](repeating: 0, count: slotCount))

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
