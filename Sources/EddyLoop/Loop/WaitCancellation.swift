import Synchronization

/// Settles the race between parking a waiter on a loop and cancelling its task, which
/// reach the loop from different threads in either order: the cancellation handler sets
/// the flag before it asks the loop to cancel the waiter, and the loop checks the flag
/// before it parks the waiter.
package final class WaitCancellation: Sendable {
    private let cancelled = Atomic<Bool>(false)

    package init() {}

    package var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    package func cancel() { cancelled.store(true, ordering: .releasing) }
}
