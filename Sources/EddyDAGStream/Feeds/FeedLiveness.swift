import Synchronization

/// Whether a feed's forwarding task still runs: set once, by the task, when its
/// subscription ends.
final class FeedLiveness: Sendable {
    private let ended = Atomic<Bool>(false)
    var isLive: Bool { !ended.load(ordering: .acquiring) }
    func end() { ended.store(true, ordering: .releasing) }
}
