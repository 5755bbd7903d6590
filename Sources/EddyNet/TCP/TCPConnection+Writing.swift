import CEddyShims
import CLibUV
import EddyLoop

extension TCPConnection {
    public func write(_ bytes: [UInt8]) async throws {
        try await write(contentsOf: CollectionOfOne(bytes))
    }

    public func write(contentsOf buffers: [[UInt8]]) async throws {
        try await write(contentsOf: buffers[...])
    }

    public func writeWithoutWaiting(contentsOf buffers: [[UInt8]]) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the connection's event loop")
        return try enqueueWrite(buffers)
    }

    public func writeWithoutWaiting(_ bytes: [UInt8]) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the connection's event loop")
        return try enqueueWrite(CollectionOfOne(bytes))
    }

    public func writeWithoutWaiting(_ header: RawSpan, _ payload: RawSpan) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the connection's event loop")
        let total = header.byteCount + payload.byteCount
        if total >= Self.corkLimit {
            // Large: joined and written at once, as `enqueueWrite` writes a large buffer.
            return try enqueueWrite(CollectionOfOne([UInt8](joining: header, payload)))
        }
        try checkWritable()
        if !corkOwned { ownCork(minimumCapacity: cork.count + total) }
        cork.append(joining: header, payload)
        try corkGrew()
        return underHighWatermark()
    }

    public func waitUntilWritable() async throws {
        let loop = eventLoop
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.runOnLoop { self.parkWriter(continuation) }
            }
        } onCancel: {
            loop.execute { if self.hasWriters { self.closeForCancellation() } }
        }
    }

    /// The shared write path: try to hand the bytes to the kernel at once, queue the rest,
    /// and suspend only above the high watermark.
    private func write<Buffers: Collection & Sendable>(contentsOf buffers: Buffers) async throws
    where Buffers.Element == [UInt8] {
        let loop = eventLoop
        let underWatermark: Bool
        if loop.inEventLoop {
            underWatermark = try enqueueWrite(buffers)
        } else {
            underWatermark = try await loop.submit { try self.enqueueWrite(buffers) }
        }
        if underWatermark { return }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.runOnLoop { self.parkWriter(continuation) }
            }
        } onCancel: {
            loop.execute { if self.hasWriters { self.closeForCancellation() } }
        }
    }

    /// Corks small writes (they go out together at the end of the loop iteration, one
    /// system call for everything written to this socket in the iteration) and writes
    /// large ones at once. Returns whether the queue is at or under the high watermark.
    /// Loop thread.
    private func enqueueWrite<Buffers: Collection>(_ buffers: Buffers) throws -> Bool where Buffers.Element == [UInt8] {
        try checkWritable()
        if buffers.count > 1 {
            // Several small frames at once (a room's burst): room for all of them at once, not
            // grown by doubling.
            let total = buffers.reduce(0) { $0 + $1.count }
            if total > 0 && cork.count + total < Self.corkLimit { ownCork(minimumCapacity: cork.count + total) }
        }
        for buffer in buffers where !buffer.isEmpty {
            if buffer.count >= Self.corkLimit {
                try flushCork() // keep order: corked bytes first
                try writeNow(buffer)
            } else {
                if cork.isEmpty && !corkOwned {
                    // The first write of the iteration: hold the caller's buffer itself (a
                    // reference, no copy); only a second write makes a cork of its own (the
                    // append copies then). So one write per iteration — an echo, a room's
                    // frame — takes no buffer here, and nothing is kept after the flush.
                    cork = buffer
                } else {
                    ownCork(minimumCapacity: cork.count + buffer.count)
                    cork.append(contentsOf: buffer)
                }
                try corkGrew()
            }
        }
        return underHighWatermark()
    }

    /// Throws when nothing may be written any more (closed, or after `shutdownWrite`).
    @inline(__always)
    private func checkWritable() throws {
        guard phase == .open else { throw readError ?? IOError(.closed, operation: "write") }
        guard !writeShut else { throw IOError(.closed, operation: "write after shutdownWrite") }
    }

    /// Bytes were added to the cork: sends it when full, else makes sure it goes out at
    /// the end of this loop iteration.
    @inline(__always)
    private func corkGrew() throws {
        if cork.count >= Self.corkLimit {
            try flushCork()
        } else if !corkRegistered {
            corkRegistered = true
            eventLoop.flushAtEndOfIteration(self)
        }
    }

    /// Whether what waits to be sent is at or under the high watermark (and tallies it).
    @inline(__always)
    private func underHighWatermark() -> Bool {
        let queued = libuvQueuedBytes + cork.count
        tally.outboundQueuedHighWaterMark.raise(to: queued)
        return queued <= configuration.writeHighWatermark
    }

    /// Writes of at least this size skip the cork (one copy saved, one syscall anyway).
    package static let corkLimit = 16 * 1024

    package func flushAtEndOfIteration() {
        corkRegistered = false
        try? flushCork() // a failure has closed the connection and failed its writers
    }

    /// Makes `cork` a buffer of the loop's pool with room for `minimumCapacity` bytes, keeping
    /// what it holds (a caller's buffer held by reference is copied into it).
    private func ownCork(minimumCapacity: Int) {
        if corkOwned {
            if cork.capacity < minimumCapacity { cork.reserveCapacity(Swift.max(minimumCapacity, 2 * cork.capacity)) }
            return
        }
        var owned = eventLoop.takeWriteBuffer(minimumCapacity: minimumCapacity)
        if !cork.isEmpty { owned.append(contentsOf: cork) } // usually empty: the first write of a read
        cork = owned
        corkOwned = true
    }

    /// Sends the corked bytes (what the kernel refuses is queued). Loop thread.
    func flushCork() throws {
        // An owned cork is never empty: every `ownCork` is followed by an append.
        guard !cork.isEmpty else { return }
        guard phase == .open else { cork = []; corkOwned = false; return }
        // Taken out before writing (a failed write closes the connection, which empties the
        // cork). A buffer of the loop's pool goes back to it: an idle connection holds no
        // write buffer, and a busy loop reuses the same few.
        // Swapped out, not copied: no reference counting for the buffer.
        var bytes: [UInt8] = []
        swap(&bytes, &cork)
        let owned = corkOwned
        corkOwned = false
        defer { if owned { eventLoop.recycleWriteBuffer(&bytes) } }
        // `writeNow` copies what the kernel does not take, so `bytes` is the only reference
        // to a pool buffer once it returns.
        try writeNow(bytes)
    }

    /// `tryWrite` when nothing is queued ahead, then a queued copy of the remainder.
    private func writeNow(_ bytes: [UInt8]) throws {
        var written = 0
        if libuvQueuedBytes == 0 {
            written = try tryWrite(bytes)
        }
        if written < bytes.count { queueCopy(of: bytes, from: written) }
    }

    /// What `uv_try_write` does, with send(2) instead of write(2): the bytes the kernel
    /// accepted right now (0 on EAGAIN). Called only while libuv's write queue is empty and
    /// the connection is connected, as `uv_try_write` requires.
    private func tryWrite(_ bytes: [UInt8]) throws -> Int {
        try bytes.withUnsafeBytes { try tryWrite($0) }
    }

    private func tryWrite(_ raw: UnsafeRawBufferPointer) throws -> Int {
        tally.writeCalls += 1
        // send(2) skips the file-write layers write(2) passes through for a socket (about
        // 2 % less CPU per call on loopback; see BENCHMARKS.md). The checks are
        // `uv_try_write`'s: nothing once shut down, and no descriptor once closing.
        var descriptor = uv_os_fd_t()
        let sent: Int
        if writeShut {
            sent = Int(UV_EPIPE.rawValue)
        } else if uv_fileno(handle.tcpAsHandle, &descriptor) < 0 {
            sent = Int(UV_EBADF.rawValue)
        } else {
            sent = eddy_send(descriptor, raw.baseAddress, raw.count)
        }
        if sent >= 0 {
            tally.bytesWritten += sent
            return sent
        }
        let error = IOError(uv: Int32(truncatingIfNeeded: sent), operation: "write")
        closeNow(readOutcome: .failure(error), writeError: error)
        throw error
    }

    private func queueCopy(of bytes: [UInt8], from offset: Int) {
        bytes.withUnsafeBytes { raw in queueCopy(of: UnsafeRawBufferPointer(rebasing: raw[offset...])) }
    }

    /// Queues a private copy of `bytes` with `uv_write`; the copy lives in the same
    /// allocation as the request and is freed in the write callback.
    private func queueCopy(of bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let request = WriteRequest.allocate(copying: bytes)
        tally.writeCalls += 1
        var buffer = request.buffer
        writeRequests += 1 // before the call: libuv counts the bytes in the queue from it on
        let status = uv_write(request.pointer, handle.tcpAsStream, &buffer, 1) { request, status in
            guard let request else { return }
            let count = WriteRequest.byteCount(of: request)
            let stream = request.pointee.handle!
            let connection = UVHandle.owner(of: stream.asUVHandle, as: TCPConnection.self)
            WriteRequest.free(request)
            connection.didWrite(count: count, status: status)
        }
        if status < 0 {
            writeRequests -= 1
            WriteRequest.free(request.pointer)
            let error = IOError(uv: status, operation: "write")
            closeNow(readOutcome: .failure(error), writeError: error)
        }
    }

    private func didWrite(count: Int, status: Int32) {
        writeRequests -= 1
        if status == 0 { tally.bytesWritten += count }
        let queued = libuvQueuedBytes
        if status < 0 {
            if phase == .open {
                let error = IOError(uv: status, operation: "write")
                closeNow(readOutcome: .failure(error), writeError: error)
            }
            return
        }
        if queued <= configuration.writeLowWatermark && hasWriters {
            let waiting = writers
            writers = []
            for writer in waiting { writer.resume() }
        }
    }

    private func parkWriter(_ continuation: UnsafeContinuation<Void, any Error>) {
        guard phase == .open else { return continuation.resume(throwing: readError ?? IOError(.closed, operation: "write")) }
        if libuvQueuedBytes + cork.count <= configuration.writeLowWatermark {
            return continuation.resume()
        }
        tally.writerSuspensions.bump()
        writers.append(continuation)
    }

    // MARK: Half-close

    public func shutdownWrite() async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            eventLoop.runOnLoop { self.startShutdown(continuation) }
        }
    }

    private func startShutdown(_ continuation: UnsafeContinuation<Void, any Error>) {
        guard phase == .open else { return continuation.resume(throwing: IOError(.closed, operation: "shutdown")) }
        guard !writeShut else { return continuation.resume() }
        do { try flushCork() } catch { return continuation.resume(throwing: error) }
        writeShut = true
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        shutdownWaiter = continuation
        let status = uv_shutdown(request, handle.tcpAsStream) { request, status in
            guard let request else { return }
            let connection = UVHandle.owner(of: request.pointee.handle!.asUVHandle, as: TCPConnection.self)
            request.deallocate()
            guard let waiter = connection.shutdownWaiter else { return }
            connection.shutdownWaiter = nil
            if status < 0 { waiter.resume(throwing: IOError(uv: status, operation: "shutdown")) } else { waiter.resume() }
        }
        if status < 0 {
            request.deallocate()
            shutdownWaiter = nil
            continuation.resume(throwing: IOError(uv: status, operation: "shutdown"))
        }
    }
}

/// One `uv_write_t` and the bytes it sends, in a single allocation:
/// `[uv_write_t][byte count: Int][bytes…]`. Freed in the write callback only, which libuv
/// calls exactly once per accepted request (with `UV_ECANCELED` when the handle closes).
enum WriteRequest {
    private static let countOffset = (MemoryLayout<uv_write_t>.size + 15) & ~15
    private static let bytesOffset = countOffset + 16

    struct Allocation {
        let pointer: UnsafeMutablePointer<uv_write_t>
        let buffer: uv_buf_t
    }

    static func allocate(copying bytes: UnsafeRawBufferPointer) -> Allocation {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytesOffset + bytes.count, alignment: 16)
        raw.storeBytes(of: bytes.count, toByteOffset: countOffset, as: Int.self)
        (raw + bytesOffset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        let request = raw.bindMemory(to: uv_write_t.self, capacity: 1)
        return Allocation(
            pointer: request,
            buffer: uv_buf_init((raw + bytesOffset).assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        )
    }

    static func byteCount(of request: UnsafeMutablePointer<uv_write_t>) -> Int {
        UnsafeMutableRawPointer(request).load(fromByteOffset: countOffset, as: Int.self)
    }

    static func free(_ request: UnsafeMutablePointer<uv_write_t>) {
        UnsafeMutableRawPointer(request).deallocate()
    }
}
