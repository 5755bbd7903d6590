/// The envelopes of one run, as an `AsyncSequence`: replayed history or a snapshot first,
/// then live events, each exactly once and in order. Ends after the run's last event, or when
/// the consuming task is cancelled, or when every copy of the subscription and its iterators
/// is gone (the hub then forgets it).
public typealias EventSubscription = HubSubscription<EventEnvelope>

/// The same sequence as ``EventSubscription``, each event as its canonical bytes
/// (``EncodedEvent``): live events carry the bytes the log stored, a replay the log's bytes as
/// they are. For senders that put events on the wire without looking into them.
public typealias EncodedEventSubscription = HubSubscription<EncodedEvent>

/// The lobby: the runs listing first, then runs starting, finishing and being forgotten, each
/// exactly once and in order. Ends when the engine shuts down, the consuming task is cancelled
/// or every copy is gone.
public typealias LobbySubscription = HubSubscription<LobbyMessage>

/// What the engine's hub publishes to one subscriber (see ``EventSubscription`` and
/// ``LobbySubscription``).
///
/// Guarantees: one producer (the event log's writer thread) hands each committed batch to the
/// subscription with one lock and at most one resumption of the consumer; the consumer takes
/// everything buffered since its last wake-up at once. Cost: one lock and at most one
/// continuation resume per committed batch (not per event). Buffering is unbounded: a consumer that stops
/// reading without cancelling keeps the run's events in memory until the run ends.
///
/// - Important: single consumer. Iterating the same subscription from two tasks concurrently
///   splits the events between them.
public struct HubSubscription<Element: Sendable>: AsyncSequence, Sendable {
    let token: SubscriptionToken<Element>

    init(_ buffer: SubscriptionBuffer<Element>) {
        token = SubscriptionToken(buffer)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(token: token)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let token: SubscriptionToken<Element>
        private var local: [Element] = []
        private var index = 0

        init(token: SubscriptionToken<Element>) {
            self.token = token
        }

        public mutating func next() async -> Element? {
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
final class SubscriptionToken<Element: Sendable>: Sendable {
    let buffer: SubscriptionBuffer<Element>
    init(_ buffer: SubscriptionBuffer<Element>) { self.buffer = buffer }
    deinit { buffer.cancel() }
}
