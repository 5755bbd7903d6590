import EddyLoop
import Testing

/// The pool of cork buffers a loop keeps between iterations (`WriteBufferPool`).
@Suite("Write buffer pool")
struct WriteBufferPoolTests {
    static func address(_ buffer: [UInt8]) -> UnsafeRawPointer? {
        buffer.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func aGivenBufferIsTakenAgainEmptyWithItsStorage() {
        var pool = WriteBufferPool()
        var buffer = pool.take(minimumCapacity: 10, now: 0)
        #expect(buffer.isEmpty && buffer.capacity >= WriteBufferPool.smallestMade)
        buffer.append(contentsOf: [1, 2, 3])
        let storage = Self.address(buffer)
        let capacity = buffer.capacity
        pool.give(&buffer)
        #expect(buffer.isEmpty && buffer.capacity == 0)
        #expect(pool.count == 1 && pool.bytesHeld == capacity)
        let again = pool.take(minimumCapacity: 3, now: 1)
        #expect(again.isEmpty && Self.address(again) == storage)
        #expect(pool.count == 0 && pool.bytesHeld == 0)
    }

    @Test func aKeptBufferTooSmallIsGrown() {
        var pool = WriteBufferPool()
        var buffer = pool.take(minimumCapacity: 1, now: 0)
        pool.give(&buffer)
        let grown = pool.take(minimumCapacity: 10_000, now: 0)
        #expect(grown.capacity >= 10_000 && grown.isEmpty)
    }

    @Test func limitsAreKept() {
        var pool = WriteBufferPool()
        var large = [UInt8](repeating: 0, count: WriteBufferPool.largestKept + 1)
        pool.give(&large)
        #expect(pool.count == 0 && large.isEmpty)
        var given = 0
        while given < WriteBufferPool.byteLimit / (16 * 1024) + 10 {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            pool.give(&buffer)
            given += 1
        }
        #expect(pool.bytesHeld <= WriteBufferPool.byteLimit)
        #expect(pool.count < given)
    }

    @Test func everythingIsFreedOnceNothingWasTakenForASecond() {
        var pool = WriteBufferPool()
        var buffer = pool.take(minimumCapacity: 100, now: 5_000)
        pool.give(&buffer)
        pool.releaseIfUnused(now: 5_000 + WriteBufferPool.idleRelease - 1)
        #expect(pool.count == 1)
        pool.releaseIfUnused(now: 5_000 + WriteBufferPool.idleRelease)
        #expect(pool.count == 0 && pool.bytesHeld == 0)
    }
}
