import EddyDAG
import EddyShared

/// What the mirror's writer has to do, in the order it was heard.
enum MirrorItem: Sendable {
    /// A logged event, as the engine encoded it.
    case event(EncodedEvent)
    /// The run ended: its stream must hold every event up to `lastSeq`, then its record says so.
    case finished(RunSummary)
    /// Retention deleted the run locally: remove its stream and record.
    case removed(String)
}

/// The bounded queue between the engine's log (the events it commits) and the mirror's single writer.
///
/// Guarantees: at most `limit` events wait (other items are a few per run); an event that
/// does not fit is dropped and its run marked behind, which the writer repairs from SQLite
/// (where every event is). `take` hands everything queued at once, in order.
final class MirrorQueue: Sendable {
    private struct State {
        var items: [MirrorItem] = []
        var events = 0
        var behind: Set<String> = []
        var dropped = 0
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = max(1, limit) }

    /// Queues `item` (an event as `put(events:)` does: it may be dropped).
    func put(_ item: MirrorItem) {
        if case .event(let event) = item {
            _ = put(events: [event])
            return
        }
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Queues a batch of events with one lock (as `put` each): how many did not fit, and the
    /// events waiting now.
    func put(events: [EncodedEvent]) -> (dropped: Int, queuedEvents: Int) {
        let (dropped, queued, waiter) = state.withLock { state -> (Int, Int, CheckedContinuation<Void, Never>?) in
            var dropped = 0
            for event in events {
                if state.events >= limit {
                    state.behind.insert(event.dagID)
                    dropped += 1
                } else {
                    state.events += 1
                    state.items.append(.event(event))
                }
            }
            state.dropped += dropped
            defer { state.waiter = nil }
            return (dropped, state.events, state.waiter)
        }
        waiter?.resume()
        return (dropped, queued)
    }

    /// Events dropped so far because the queue was full.
    var dropped: Int { state.withLock { $0.dropped } }

    /// Events waiting for the writer to take them.
    var queuedEvents: Int { state.withLock { $0.events } }

    /// Waits until there is something to do, then takes it all: the runs behind and the
    /// queued items. Returns nil once stopped with nothing left.
    func take() async -> (behind: Set<String>, items: [MirrorItem])? {
        while true {
            let taken = state.withLock { state -> (Set<String>, [MirrorItem])?? in
                if !state.items.isEmpty || !state.behind.isEmpty {
                    defer { state.items = []; state.events = 0; state.behind = [] }
                    return .some((state.behind, state.items))
                }
                return state.stopped ? .some(nil) : .none
            }
            if let taken { return taken.map { (behind: $0.0, items: $0.1) } }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if !state.items.isEmpty || !state.behind.isEmpty || state.stopped { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// No more items will come: `take` returns nil once the queue is empty.
    func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
