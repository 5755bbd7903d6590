import Synchronization

/// The highest position of an ordered room's stream that one member already has: from its
/// join (a snapshot or a replay up to the head), from a later catch-up snapshot, or from the
/// last positioned message it was given. Only rises.
///
/// A room hands a member a message published at position `p` only if `p` is above its floor,
/// and raises the floor to `p` as it does: so a member sees each position at most once and
/// in increasing order, even when two publishers (an ended feed and its replacement) publish
/// the same positions.
public final class MemberFloor: Sendable {
    private let position: Atomic<Int64>

    /// A floor below every position (a member that has nothing yet).
    public init(_ position: Int64 = .min) {
        self.position = Atomic(position)
    }

    /// The highest position the member has.
    public var value: Int64 { position.load(ordering: .acquiring) }

    /// Records that the member has everything up to `position` (a snapshot at `position`).
    public func raise(to position: Int64) {
        self.position.max(position, ordering: .acquiringAndReleasing)
    }

    /// Raises the floor to `position`; true if it was below (the member needs the message
    /// at `position`), false if the member already has it.
    func advance(to position: Int64) -> Bool {
        advanceReturningPrevious(to: position) < position
    }

    /// Raises the floor to `position` and returns the floor it had: the member needed the
    /// positions above that one, up to `position`.
    func advanceReturningPrevious(to position: Int64) -> Int64 {
        self.position.max(position, ordering: .acquiringAndReleasing).oldValue
    }
}
