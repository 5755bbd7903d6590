import EddyShared

/// The hand-over buffer between the event log's writer thread (one producer) and one
/// consumer task.
///
/// Guarantees: what is yielded is taken in order, each element once; after ``finish()`` the
/// consumer drains what is buffered, then sees the end; after ``cancel()`` it sees the end at
/// once and the termination handler runs once. No continuation is resumed and no handler is
/// called while the mutex is held, so neither can re-enter it.
final class SubscriptionBuffer<Element: Sendable>: Sendable {
    private struct State {
        var pending: [Element] = []
        var waiter: CheckedContinuation<[Element]?, Never>?
        var finished = false
        var onTermination: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Set once by the hub before the subscription is handed out; called once on cancellation.
    func setOnTermination(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.onTermination = body }
    }

    func yield(_ element: Element) {
        yield(contentsOf: CollectionOfOne(element))
    }

    func yield<Elements: Collection>(contentsOf elements: Elements) where Elements.Element == Element {
        let waiter: CheckedContinuation<[Element]?, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter, state.pending.isEmpty {
                state.waiter = nil
                return waiter
            }
            state.pending.append(contentsOf: elements)
            return nil
        }
        waiter?.resume(returning: Array(elements))
    }

    /// No more events: the consumer drains what is buffered, then sees the end.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            state.onTermination = nil
            return state.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    /// The consumer stopped (task cancelled or subscription dropped): drop everything.
    func cancel() {
        let (waiter, terminate) = state.withLock { state in
            let wasFinished = state.finished
            state.finished = true
            state.pending = []
            let terminate = state.onTermination.take()
            return (state.waiter.take(), wasFinished ? nil : terminate)
        }
        waiter?.resume(returning: nil)
        terminate?()
    }

    /// Everything buffered since the last call; waits if nothing is; `nil` at the end.
    func take() async -> [Element]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element]?, Never>) in
                let ready: [Element]?? = state.withLock { state in
                    if !state.pending.isEmpty {
                        var batch: [Element] = []
                        swap(&batch, &state.pending)
                        return .some(batch)
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            cancel()
        }
    }
}
