import Foundation

/// The envelopes of one run, as an `AsyncSequence`: replayed history or a snapshot first,
/// then live events, each exactly once and in order. Ends after the run's last event, or when
/// the consuming task is cancelled, or when every copy of the subscription and its iterators
/// is gone (the hub then forgets it).
///
/// Guarantees: one producer (the event log's writer thread) hands each committed batch to the
/// subscription with one lock and at most one resumption of the consumer; the consumer takes
/// everything buffered since its last wake-up at once. Cost: one lock and at most one
/// continuation resume per committed batch (not per event). Buffering is unbounded: a consumer that stops
/// reading without cancelling keeps the run's events in memory until the run ends.
///
/// - Important: single consumer. Iterating the same subscription from two tasks concurrently
///   splits the events between them.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EventEnvelope
    let token: SubscriptionToken

    init(_ buffer: SubscriptionBuffer) {
        token = SubscriptionToken(buffer)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(token: token)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let token: SubscriptionToken
        private var local: [EventEnvelope] = []
        private var index = 0

        init(token: SubscriptionToken) {
            self.token = token
        }

        public mutating func next() async -> EventEnvelope? {
            if index == local.count {
                guard let batch = await token.buffer.take(), !batch.isEmpty else { return nil }
                local = batch
                index = 0
            }
            defer { index += 1 }
            return local[index]
        }
    }
}

/// Cancels the subscription when the last copy of the sequence or of its iterators goes away.
final class SubscriptionToken: Sendable {
    let buffer: SubscriptionBuffer
    init(_ buffer: SubscriptionBuffer) { self.buffer = buffer }
    deinit { buffer.cancel() }
}

/// The lock-protected hand-over buffer between the writer thread and one consumer.
final class SubscriptionBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [EventEnvelope] = []
    private var waiter: CheckedContinuation<[EventEnvelope]?, Never>?
    private var finished = false
    private var onTermination: (@Sendable () -> Void)?

    /// Set once by the hub before the subscription is handed out; called once on cancellation.
    func setOnTermination(_ body: @escaping @Sendable () -> Void) {
        lock.lock()
        onTermination = body
        lock.unlock()
    }

    func yield(_ envelope: EventEnvelope) {
        yield(contentsOf: CollectionOfOne(envelope))
    }

    func yield<C: Collection>(contentsOf envelopes: C) where C.Element == EventEnvelope {
        lock.lock()
        guard !finished else {
            lock.unlock()
            return
        }
        if let w = waiter, pending.isEmpty {
            waiter = nil
            lock.unlock()
            w.resume(returning: Array(envelopes))
            return
        }
        pending.append(contentsOf: envelopes)
        lock.unlock()
    }

    /// No more events: the consumer drains what is buffered, then sees the end.
    func finish() {
        lock.lock()
        finished = true
        let w = waiter
        waiter = nil
        onTermination = nil
        lock.unlock()
        w?.resume(returning: nil)
    }

    /// The consumer stopped (task cancelled or subscription dropped): drop everything.
    func cancel() {
        lock.lock()
        let wasFinished = finished
        finished = true
        pending = []
        let w = waiter
        waiter = nil
        let terminate = onTermination
        onTermination = nil
        lock.unlock()
        w?.resume(returning: nil)
        if !wasFinished { terminate?() }
    }

    /// Everything buffered since the last call; waits if nothing is; `nil` at the end.
    func take() async -> [EventEnvelope]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<[EventEnvelope]?, Never>) in
                lock.lock()
                if !pending.isEmpty {
                    var batch: [EventEnvelope] = []
                    swap(&batch, &pending)
                    lock.unlock()
                    c.resume(returning: batch)
                } else if finished {
                    lock.unlock()
                    c.resume(returning: nil)
                } else {
                    waiter = c
                    lock.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }
}
