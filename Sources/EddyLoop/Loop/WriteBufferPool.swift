import CLibUV

/// The buffers a loop's sockets cork their writes in, kept from one iteration to the next.
///
/// A broadcast to N sockets corks a buffer on each of them and frees all N at the end of the
/// iteration. Freed together, they leave a large free block at the top of the loop thread's
/// malloc arena, which glibc hands back to the kernel (`madvise`) once it passes its trim
/// threshold, and the next iteration faults the same pages in again: at 1,000 subscribers
/// that was some 17,000 page faults a second. Kept here instead, the buffers are reused
/// without a `malloc`, a `free` or a fault.
///
/// Guarantees:
/// - Holds at most `byteLimit` bytes of capacity, in buffers of at most `largestKept` bytes.
/// - Frees everything it holds at the first iteration that ends with nothing corked once
///   nothing was taken for `idleRelease` milliseconds of loop time. A loop that stops writing
///   but keeps waking (a keep-alive tick, any I/O) keeps nothing for long; one that blocks
///   with nothing at all to do keeps at most `byteLimit` until it next wakes.
/// - Confined to its loop's thread.
package struct WriteBufferPool {
    /// Capacity kept at most, in bytes (enough for a few thousand sockets' corks).
    package static let byteLimit = 8 << 20
    /// Larger buffers are not kept (a cork that large is sent at once anyway).
    package static let largestKept = 64 * 1024
    /// Milliseconds without a `take` after which the pool is emptied.
    package static let idleRelease: UInt64 = 1000
    /// The least capacity a buffer is made with, so that a cork of a few frames does not
    /// grow by doubling from one frame's size.
    package static let smallestMade = 256

    private var spare: [[UInt8]] = []
    package private(set) var bytesHeld = 0
    private var lastTake: UInt64 = 0

    package init() {}

    /// The number of buffers held.
    package var count: Int { spare.count }

    /// An empty buffer with room for at least `minimumCapacity` bytes: a kept one if there is
    /// one, else a new one. `now` is the loop's time in milliseconds.
    package mutating func take(minimumCapacity: Int, now: UInt64) -> [UInt8] {
        lastTake = now
        if var buffer = spare.popLast() {
            bytesHeld -= buffer.capacity
            // Kept buffers are unique and already empty (`give`): this allocates only when the
            // buffer is too small.
            if buffer.capacity < minimumCapacity { buffer.reserveCapacity(minimumCapacity) }
            return buffer
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(Swift.max(minimumCapacity, Self.smallestMade))
        return buffer
    }

    /// Keeps `buffer`'s storage for a later `take` if the limits allow; `buffer` is left empty
    /// either way. The caller must hold the only reference to the storage (a shared one is
    /// not reused: it would be copied on the next append).
    package mutating func give(_ buffer: inout [UInt8]) {
        let capacity = buffer.capacity
        guard capacity > 0, capacity <= Self.largestKept, bytesHeld + capacity <= Self.byteLimit else {
            buffer = []
            return
        }
        buffer.removeAll(keepingCapacity: true)
        spare.append(buffer)
        buffer = []
        bytesHeld += capacity
    }

    /// Frees what is held if nothing was taken for `idleRelease` milliseconds before `now`.
    package mutating func releaseIfUnused(now: UInt64) {
        guard !spare.isEmpty, now &- lastTake >= Self.idleRelease else { return }
        spare = []
        bytesHeld = 0
    }
}

extension EventLoop {
    /// An empty buffer for a socket's cork, from this loop's pool (see `WriteBufferPool`).
    /// Loop thread.
    package func takeWriteBuffer(minimumCapacity: Int) -> [UInt8] {
        writeBuffers.take(minimumCapacity: minimumCapacity, now: uv_now(uv))
    }

    /// Gives a flushed cork's storage back to this loop's pool; `buffer` is left empty. The
    /// caller holds the only reference to it. Loop thread.
    package func recycleWriteBuffer(_ buffer: inout [UInt8]) {
        writeBuffers.give(&buffer)
    }

    /// The buffers and bytes this loop's pool holds now (for tests and diagnostics). Loop thread.
    package var spareWriteBuffers: (count: Int, bytes: Int) {
        (writeBuffers.count, writeBuffers.bytesHeld)
    }
}
