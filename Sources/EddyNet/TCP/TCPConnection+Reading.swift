import CLibUV
import EddyLoop

extension TCPConnection {
    /// The bytes this connection receives: a single-consumer `AsyncSequence` of chunks.
    public var inbound: Inbound { Inbound(connection: self) }

    /// Received bytes, in order; each element holds everything that arrived since the
    /// previous one. Ends (`nil`) on the peer's FIN or a local close; throws on a read
    /// error. Iterators may be made one after another (an HTTP server hands the stream to
    /// a WebSocket after the handshake), but only one read may be pending at a time: a
    /// concurrent read throws `IOError.Code.readInProgress`.
    public struct Inbound: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        let connection: TCPConnection

        public func makeAsyncIterator() -> Iterator {
            Iterator(connection: connection)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let connection: TCPConnection

            public mutating func next() async throws -> [UInt8]? {
                try await connection.read()
            }

            /// What `for try await` calls: in the caller's isolation, so without the two
            /// executor switches the standard library's default (an `isolated` parameter)
            /// costs per element.
            nonisolated(nonsending) public mutating func next(isolation actor: (any Actor)?) async throws -> [UInt8]? {
                try await connection.read()
            }
        }
    }

    /// Takes everything buffered, or waits for the next read.
    public func read() async throws -> [UInt8]? {
        let loop = eventLoop
        if !loop.inEventLoop { return try await readFromAnotherThread() }
        if let ready = try takeBuffered() { return ready }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                // Called directly on the loop: an escaping closure here would cost one
                // heap allocation per read.
                if loop.inEventLoop { self.parkReader(continuation) } else { loop.execute { self.parkReader(continuation) } }
            }
        } onCancel: {
            loop.execute { if self.reader != nil { self.closeForCancellation() } }
        }
    }

    /// `read()` from a thread that is not the loop's: the park and a cancellation reach
    /// the loop in either order, so the cancellation leaves a flag the park checks.
    @inline(never)
    private func readFromAnotherThread() async throws -> [UInt8]? {
        let loop = eventLoop
        let wait = WaitCancellation()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.execute {
                    if wait.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return self.closeForCancellation()
                    }
                    self.parkReader(continuation)
                }
            }
        } onCancel: {
            wait.cancel()
            loop.execute { if self.reader != nil { self.closeForCancellation() } }
        }
    }

    /// What a read can return without waiting: `.some(bytes)` when bytes are buffered,
    /// `.some(nil)` at end of stream, or `nil` when the reader must wait. Throws the read
    /// error, if any. Loop thread.
    private func takeBuffered() throws -> [UInt8]?? {
        if !pending.isEmpty {
            var chunk: [UInt8] = []
            swap(&chunk, &pending)
            resumeReadingIfBelowLowWatermark()
            return .some(chunk)
        }
        if let readError { throw readError }
        if readEnded { return .some(nil) }
        return nil
    }

    private func parkReader(_ continuation: UnsafeContinuation<[UInt8]?, any Error>) {
        do {
            if let ready = try takeBuffered() { return continuation.resume(returning: ready) }
        } catch {
            return continuation.resume(throwing: error)
        }
        if reader != nil {
            return continuation.resume(throwing: IOError(.readInProgress, operation: "read"))
        }
        reader = continuation
        startReading()
    }

    public func startReceiving(_ receiver: any ByteStreamReceiver) {
        precondition(eventLoop.inEventLoop, "startReceiving must be called on the connection's event loop")
        if !pending.isEmpty {
            var buffered: [UInt8] = []
            swap(&buffered, &pending)
            buffered.withUnsafeMutableBytes { receiver.streamDidReceive($0) }
        }
        if readEnded || phase != .open {
            receiver.streamDidEnd(readError)
            return
        }
        self.receiver = receiver
        startReading()
    }

    public func pauseReceiving() {
        receivingPaused = true
        if reading { uv_read_stop(handle.tcpAsStream); reading = false; tally.readPauses.bump() }
    }

    public func resumeReceiving() {
        receivingPaused = false
        startReading()
    }

    func startReading() {
        guard !reading, !receivingPaused, phase == .open, !readEnded else { return }
        // The connection is not retained for these calls (they come for every read): the
        // handle holds a reference to it (`UVHandle.retain`) that it gives up only in its
        // close callback, which libuv never runs during another of its callbacks.
        let status = uv_read_start(handle.tcpAsStream, { handle, suggested, buffer in
            Unmanaged<TCPConnection>.fromOpaque(handle!.pointee.data!)._withUnsafeGuaranteedRef { $0.allocate(buffer!) }
        }, { stream, nread, buffer in
            Unmanaged<TCPConnection>.fromOpaque(stream!.pointee.data!)._withUnsafeGuaranteedRef { $0.didRead(nread) }
        })
        if status < 0 {
            let error = IOError(uv: status, operation: "read")
            closeNow(readOutcome: .failure(error), writeError: error)
        } else {
            reading = true
        }
    }

    private func resumeReadingIfBelowLowWatermark() {
        if !reading && pending.count <= configuration.readLowWatermark { startReading() }
    }

    /// Hands libuv the loop's shared receive buffer, sized to the room left under the
    /// high watermark so buffered bytes never exceed it.
    private func allocate(_ buffer: UnsafeMutablePointer<uv_buf_t>) {
        let room = min(eventLoop.receiveBuffer.count, configuration.readHighWatermark - pending.count)
        buffer.pointee = uv_buf_init(eventLoop.receiveBuffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(max(room, 0)))
    }

    private func didRead(_ nread: Int) {
        if nread > 0 {
            let bytes = UnsafeRawBufferPointer(start: eventLoop.receiveBuffer.baseAddress, count: nread)
            tally.bytesRead += nread
            tally.reads += 1
            if let receiver {
                // What the receiver writes in answer (an echo, a pong) is sent right after it
                // returns, not at the end of the iteration: one system call either way, but
                // the cork is taken from the loop's pool and given back around each read, so
                // one warm buffer serves every connection that reads in the iteration, and
                // the connection is not listed for the end of the iteration. Marked as
                // registered meanwhile, so that a write does not list it.
                let registered = corkRegistered
                corkRegistered = true
                receiver.streamDidReceive(UnsafeMutableRawBufferPointer(start: eventLoop.receiveBuffer.baseAddress, count: nread))
                if !registered {
                    corkRegistered = false
                    try? flushCork() // a failure has closed the connection and failed its writers
                }
                return
            }
            if let reader {
                self.reader = nil
                reader.resume(returning: Array(bytes))
                return
            }
            pending.append(contentsOf: bytes)
            tally.inboundBufferedHighWaterMark.raise(to: pending.count)
            if pending.count >= configuration.readHighWatermark {
                uv_read_stop(handle.tcpAsStream)
                reading = false
                tally.readPauses.bump()
            }
            return
        }
        if nread == 0 { return } // EAGAIN
        if nread == Int(UV_ENOBUFS.rawValue) {
            // Zero room: the watermark was reached between reads. Wait for the consumer.
            uv_read_stop(handle.tcpAsStream)
            reading = false
            tally.readPauses.bump()
            return
        }
        uv_read_stop(handle.tcpAsStream)
        reading = false
        readEnded = true
        if nread == Int(UV_EOF.rawValue) {
            if let reader { self.reader = nil; reader.resume(returning: nil) }
            if let receiver { self.receiver = nil; receiver.streamDidEnd(nil) }
        } else {
            let error = IOError(uv: Int32(nread), operation: "read")
            closeNow(readOutcome: .failure(error), writeError: error)
        }
    }
}
