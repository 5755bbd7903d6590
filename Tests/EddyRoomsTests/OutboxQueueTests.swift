import EddyRooms
import Testing

private typealias Queue = OutboxQueue<String>

private func entry(_ text: String, key: String? = nil) -> Queue.Entry {
    Queue.Entry(payload: text, byteCount: text.utf8.count, key: key)
}

private func drain(_ queue: inout Queue) -> [String] {
    queue.take().map(\.payload)
}

@Suite("Outbox policies")
struct OutboxQueueTests {
    @Test func enqueuesInOrderUnderTheLimits() {
        var queue = Queue(policy: .dropNewest, limits: OutboxLimits(maxBytes: 100, maxMessages: 10))
        for i in 0..<5 { #expect(queue.offer(entry("m\(i)")) == .enqueued) }
        #expect(queue.counters.queuedMessages == 5)
        #expect(queue.counters.queuedBytes == 10)
        #expect(drain(&queue) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(queue.isEmpty)
        #expect(queue.counters.delivered == 5)
    }

    @Test func dropNewestDiscardsTheIncomingMessage() {
        var queue = Queue(policy: .dropNewest, limits: OutboxLimits(maxBytes: 1000, maxMessages: 3))
        for i in 0..<3 { _ = queue.offer(entry("a\(i)")) }
        #expect(queue.offer(entry("a3")) == .droppedNewest)
        #expect(queue.offer(entry("a4")) == .droppedNewest)
        #expect(drain(&queue) == ["a0", "a1", "a2"])
        #expect(queue.counters.dropped == 2)
    }

    @Test func dropOldestMakesRoomFromTheFront() {
        var queue = Queue(policy: .dropOldest, limits: OutboxLimits(maxBytes: 1000, maxMessages: 3))
        for i in 0..<3 { _ = queue.offer(entry("b\(i)")) }
        #expect(queue.offer(entry("b3")) == .enqueuedDroppingOldest(1))
        #expect(queue.offer(entry("b4")) == .enqueuedDroppingOldest(1))
        #expect(drain(&queue) == ["b2", "b3", "b4"])
        #expect(queue.counters.dropped == 2)
    }

    @Test func dropOldestRespectsTheByteLimit() {
        var queue = Queue(policy: .dropOldest, limits: OutboxLimits(maxBytes: 10, maxMessages: 100))
        _ = queue.offer(entry("aaaa"))  // 4
        _ = queue.offer(entry("bbbb"))  // 8
        // 8 + 6 > 10: dropping "aaaa" leaves 4 + 6 = 10, which fits.
        #expect(queue.offer(entry("cccccc")) == .enqueuedDroppingOldest(1))
        #expect(queue.counters.queuedBytes == 10)
        #expect(drain(&queue) == ["bbbb", "cccccc"])
    }

    @Test func suspendReportsFullAndAcceptsAfterDraining() {
        var queue = Queue(policy: .suspend, limits: OutboxLimits(maxBytes: 1000, maxMessages: 2))
        #expect(queue.offer(entry("x")) == .enqueued)
        #expect(queue.offer(entry("y")) == .enqueued)
        #expect(queue.offer(entry("z")) == .full)
        #expect(queue.counters.senderSuspensions == 1)
        #expect(drain(&queue) == ["x", "y"])
        #expect(queue.offer(entry("z")) == .enqueued)
        #expect(drain(&queue) == ["z"])
    }

    @Test func closePolicyReportsItsCodeAndEmptiesTheQueue() {
        var queue = Queue(policy: .close(code: 1013, reason: "try again later"), limits: OutboxLimits(maxBytes: 1000, maxMessages: 1))
        #expect(queue.offer(entry("1")) == .enqueued)
        #expect(queue.offer(entry("2")) == .close(code: 1013, reason: "try again later"))
        #expect(queue.isClosed)
        #expect(queue.isEmpty)
        #expect(queue.counters.closedForSlowness == 1)
        #expect(drain(&queue) == [])
        #expect(OutboxPolicy.closeSlowConsumer == .close(code: 1008, reason: "too slow"))
    }

    @Test func conflationKeepsTheLatestPerKeyInPublishOrder() {
        var queue = Queue(policy: .conflate, limits: OutboxLimits(maxBytes: 1000, maxMessages: 100))
        _ = queue.offer(entry("A:pending", key: "A"))
        _ = queue.offer(entry("B:pending", key: "B"))
        _ = queue.offer(entry("mutation-1"))             // no key: never conflated
        #expect(queue.offer(entry("A:running", key: "A")) == .enqueuedReplacing)
        _ = queue.offer(entry("C:running", key: "C"))
        #expect(queue.offer(entry("A:completed", key: "A")) == .enqueuedReplacing)
        #expect(queue.offer(entry("B:running", key: "B")) == .enqueuedReplacing)
        #expect(drain(&queue) == ["mutation-1", "C:running", "A:completed", "B:running"])
        #expect(queue.counters.conflated == 3)
        #expect(queue.counters.enqueued == 7)
    }

    @Test func conflationClosesWhenUnkeyedMessagesOverflow() {
        var queue = Queue(policy: .conflate, limits: OutboxLimits(maxBytes: 1000, maxMessages: 2))
        _ = queue.offer(entry("k1", key: "k"))
        _ = queue.offer(entry("u1"))
        #expect(queue.offer(entry("k2", key: "k")) == .enqueuedReplacing) // replacing frees a slot
        #expect(queue.offer(entry("u2")) == .close(code: 1008, reason: "too slow"))
    }

    @Test func catchUpDiscardsTheBacklogAndResumesWithTheCatchUpMessage() {
        var queue = Queue(policy: .catchUp, limits: OutboxLimits(maxBytes: 1000, maxMessages: 3))
        #expect(queue.offer(entry("e1")) == .enqueued)
        #expect(queue.offer(entry("reply-1", key: "cmd-1")) == .enqueued)
        #expect(queue.offer(entry("e2")) == .enqueued)
        #expect(!queue.isBehind)
        // Overflow: the unkeyed backlog and the new message go; the keyed reply stays.
        #expect(queue.offer(entry("e3")) == .fellBehind(discarded: 2))
        #expect(queue.isBehind)
        #expect(queue.offer(entry("e4")) == .discardedBehind)
        #expect(queue.offer(entry("reply-2", key: "cmd-2")) == .enqueued)
        #expect(queue.counters.discardedBehind == 4)
        #expect(!queue.needsCatchUp) // replies still queued
        #expect(drain(&queue) == ["reply-1", "reply-2"])
        #expect(queue.needsCatchUp)
        queue.catchUp(entry("snapshot@e4"))
        #expect(!queue.isBehind && !queue.needsCatchUp)
        #expect(queue.offer(entry("e5")) == .enqueued)
        #expect(drain(&queue) == ["snapshot@e4", "e5"])
        #expect(queue.counters.catchUps == 1)
        #expect(queue.counters.queuedBytes == 0)
    }

    @Test func catchUpKeepsTheLatestKeyedMessageAndClosesWhenKeyedOnesOverflow() {
        var queue = Queue(policy: .catchUp, limits: OutboxLimits(maxBytes: 1000, maxMessages: 2))
        _ = queue.offer(entry("a1", key: "a"))
        #expect(queue.offer(entry("a2", key: "a")) == .enqueuedReplacing)
        _ = queue.offer(entry("b1", key: "b"))
        #expect(queue.offer(entry("c1", key: "c")) == .close(code: 1008, reason: "too slow"))
        #expect(queue.isClosed)
    }

    @Test func catchUpIsIgnoredUnlessBehind() {
        var queue = Queue(policy: .catchUp, limits: OutboxLimits(maxBytes: 1000, maxMessages: 2))
        queue.catchUp(entry("stray"))
        #expect(queue.isEmpty && queue.counters.catchUps == 0)
    }

    @Test func aMessageLargerThanTheByteLimitFitsAnEmptyQueue() {
        var queue = Queue(policy: .dropNewest, limits: OutboxLimits(maxBytes: 4, maxMessages: 10))
        #expect(queue.offer(entry("0123456789")) == .enqueued)
        #expect(queue.offer(entry("x")) == .droppedNewest)
        #expect(drain(&queue) == ["0123456789"])
    }

    @Test func takeHonoursTheByteBudget() {
        var queue = Queue(policy: .dropNewest, limits: OutboxLimits(maxBytes: 1000, maxMessages: 100))
        for i in 0..<10 { _ = queue.offer(entry("msg\(i)")) } // 4 bytes each
        #expect(queue.take(maxBytes: 10).map(\.payload) == ["msg0", "msg1"])
        #expect(queue.take(maxBytes: 1).map(\.payload) == ["msg2"]) // at least one
        #expect(queue.counters.queuedMessages == 7)
    }

    @Test func longRunsCompactWithoutLosingConflationIndex() {
        var queue = Queue(policy: .conflate, limits: OutboxLimits(maxBytes: 1 << 20, maxMessages: 1 << 16))
        var expected: [String: String] = [:]
        for round in 0..<5_000 {
            let key = "n\(round % 7)"
            let text = "\(key)=\(round)"
            _ = queue.offer(entry(text, key: key))
            expected[key] = text
            if round % 3 == 0 { _ = queue.take(maxBytes: 8) }
        }
        var latest: [String: String] = [:]
        for text in drain(&queue) { latest[String(text.split(separator: "=")[0])] = text }
        // Every key still queued holds its newest value.
        for (key, text) in latest { #expect(expected[key] == text) }
    }
}
