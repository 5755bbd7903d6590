/// The sans-IO heart of an `Outbox`: a bounded FIFO of framed messages with an overflow
/// policy. No I/O, no clocks, no concurrency: the connection's loop owns it.
///
/// Guarantees:
/// - `queuedBytes <= limits.maxBytes` and `queuedMessages <= limits.maxMessages` after
///   every `offer`, except that one message larger than `maxBytes` fits an empty queue.
/// - The messages `take` returns are a subsequence of those offered, in offer order:
///   policies only remove messages, never reorder them.
/// - With `.conflate` and `.catchUp`, at most one message per key is queued, and it is the
///   latest.
/// - With `.catchUp`, after an overflow (`.fellBehind`) no message without a key is queued
///   until the owner supplies the catch-up message with `catchUp(_:)`; the owner does so once
///   `take` has emptied the queue and the connection can take more (`needsCatchUp`).
public struct OutboxQueue<Payload: Sendable>: Sendable {
    /// One queued message: its payload, its size on the wire, and its conflation key.
    public struct Entry: Sendable {
        public var payload: Payload
        public var byteCount: Int
        public var key: String?

        public init(payload: Payload, byteCount: Int, key: String? = nil) {
            self.payload = payload
            self.byteCount = byteCount
            self.key = key
        }
    }

    /// The outcome of an `offer`.
    public enum OfferResult: Sendable, Equatable {
        /// Queued.
        case enqueued
        /// Queued after discarding this many older messages.
        case enqueuedDroppingOldest(Int)
        /// Queued, replacing the older message with the same key.
        case enqueuedReplacing
        /// Not queued: the policy is `.dropNewest` and the queue is full.
        case droppedNewest
        /// Not queued: the policy is `.suspend`; offer again after the queue drains.
        case full
        /// Not queued: close the connection with this code and reason.
        case close(code: UInt16, reason: String)
        /// `.catchUp`: the queue overflowed and discarded this many queued messages (and
        /// the offered one unless it has a key); it is behind until `catchUp(_:)`.
        case fellBehind(discarded: Int)
        /// `.catchUp`: discarded because the queue is behind.
        case discardedBehind
    }

    public let policy: OutboxPolicy
    public let limits: OutboxLimits
    public private(set) var counters = OutboxCounters()

    // Entries live in `slots[head...]`; superseded ones become nil (tombstones).
    private var slots: [Entry?] = []
    private var head = 0
    private var slotOfKey: [String: Int] = [:]
    private var closed = false
    private var behind = false

    public init(policy: OutboxPolicy, limits: OutboxLimits = OutboxLimits()) {
        self.policy = policy
        self.limits = limits
    }

    public var isEmpty: Bool { counters.queuedMessages == 0 }
    /// Whether the queue has told its owner to close; it accepts nothing afterwards.
    public var isClosed: Bool { closed }
    /// Whether a `.catchUp` queue is behind: it discards messages without a key until
    /// `catchUp(_:)`.
    public var isBehind: Bool { behind }
    /// Whether the owner should supply the catch-up message now: behind, and every queued
    /// message has been taken.
    public var needsCatchUp: Bool { behind && counters.queuedMessages == 0 }

    private var conflates: Bool {
        switch policy {
        case .conflate, .catchUp: true
        default: false
        }
    }

    /// Whether `entry` fits without exceeding a limit.
    private func fits(_ byteCount: Int) -> Bool {
        if counters.queuedMessages == 0 { return true }
        return counters.queuedMessages + 1 <= limits.maxMessages
            && counters.queuedBytes + byteCount <= limits.maxBytes
    }

    /// Offers a message; the result says what happened.
    public mutating func offer(_ entry: Entry) -> OfferResult {
        if closed { return .close(code: 1008, reason: "closed") }
        if behind && entry.key == nil {
            counters.discardedBehind += 1
            return .discardedBehind
        }
        if conflates, let key = entry.key, let slot = slotOfKey[key] {
            remove(at: slot)
            counters.conflated += 1
            if fits(entry.byteCount) {
                append(entry)
                return .enqueuedReplacing
            }
            return overflow(entry)
        }
        if fits(entry.byteCount) {
            append(entry)
            return .enqueued
        }
        return overflow(entry)
    }

    private mutating func overflow(_ entry: Entry) -> OfferResult {
        switch policy {
        case .suspend:
            counters.senderSuspensions += 1
            return .full
        case .dropNewest:
            counters.dropped += 1
            return .droppedNewest
        case .dropOldest:
            var dropped = 0
            while !fits(entry.byteCount), let _ = popFirst() {
                dropped += 1
            }
            counters.dropped += dropped
            append(entry)
            return .enqueuedDroppingOldest(dropped)
        case .conflate:
            return closeForSlowness(code: 1008, reason: "too slow")
        case .catchUp:
            return fallBehind(entry)
        case .close(let code, let reason):
            return closeForSlowness(code: code, reason: reason)
        }
    }

    /// Discards the queued messages without a key, then queues `entry` if it has a key.
    private mutating func fallBehind(_ entry: Entry) -> OfferResult {
        var discarded = 0
        for slot in head..<slots.count {
            if let queued = slots[slot], queued.key == nil {
                remove(at: slot)
                discarded += 1
            }
        }
        behind = true
        counters.discardedBehind += discarded
        guard entry.key != nil else {
            counters.discardedBehind += 1
            return .fellBehind(discarded: discarded)
        }
        guard fits(entry.byteCount) else { return closeForSlowness(code: 1008, reason: "too slow") }
        append(entry)
        return .fellBehind(discarded: discarded)
    }

    /// Queues the catch-up message that stands for everything discarded while behind, and
    /// ends the behind state. It is accepted whatever its size (the queue is empty when
    /// `needsCatchUp` says to call this).
    public mutating func catchUp(_ entry: Entry) {
        guard behind, !closed else { return }
        behind = false
        counters.catchUps += 1
        append(entry)
    }

    private mutating func closeForSlowness(code: UInt16, reason: String) -> OfferResult {
        closed = true
        counters.closedForSlowness = 1
        slots = []
        head = 0
        slotOfKey = [:]
        counters.queuedBytes = 0
        counters.queuedMessages = 0
        return .close(code: code, reason: reason)
    }

    /// Counts a message its owner handed straight to the connection because the queue was
    /// empty and the connection kept up (it never waited here, so the queued-bytes figures
    /// do not change).
    public mutating func recordPassThrough(count: Int = 1) {
        counters.enqueued += count
        counters.delivered += count
    }

    /// Counts a message its owner discarded because `offer` said `.full` and it could not
    /// wait (a room publishing to a `.suspend` outbox).
    public mutating func recordDrop() {
        counters.dropped += 1
    }

    /// Takes queued messages in order, up to `maxBytes` (at least one message if any).
    public mutating func take(maxBytes: Int = .max) -> [Entry] {
        var batch: [Entry] = []
        var bytes = 0
        while let next = peekFirst(), batch.isEmpty || bytes + next.byteCount <= maxBytes {
            _ = popFirst()
            bytes += next.byteCount
            batch.append(next)
        }
        counters.delivered += batch.count
        return batch
    }

    // MARK: Storage

    private mutating func append(_ entry: Entry) {
        if let key = entry.key, conflates { slotOfKey[key] = slots.count }
        slots.append(entry)
        counters.enqueued += 1
        counters.queuedMessages += 1
        counters.queuedBytes += entry.byteCount
        counters.queuedBytesHighWaterMark = max(counters.queuedBytesHighWaterMark, counters.queuedBytes)
    }

    private mutating func remove(at slot: Int) {
        guard let entry = slots[slot] else { return }
        slots[slot] = nil
        if let key = entry.key, slotOfKey[key] == slot { slotOfKey[key] = nil }
        counters.queuedMessages -= 1
        counters.queuedBytes -= entry.byteCount
    }

    private mutating func skipTombstones() {
        while head < slots.count, slots[head] == nil { head += 1 }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > slots.count {
            compact()
        }
    }

    /// Drops the consumed prefix and renumbers the key index.
    private mutating func compact() {
        slots.removeFirst(head)
        head = 0
        slotOfKey.removeAll(keepingCapacity: true)
        if conflates {
            for (index, entry) in slots.enumerated() {
                if let key = entry?.key { slotOfKey[key] = index }
            }
        }
    }

    private mutating func peekFirst() -> Entry? {
        skipTombstones()
        return head < slots.count ? slots[head] : nil
    }

    private mutating func popFirst() -> Entry? {
        skipTombstones()
        guard head < slots.count, let entry = slots[head] else { return nil }
        remove(at: head)
        head += 1
        return entry
    }
}
