import EddyLoop
public import EddyNet

extension TLSStream {
    /// Decrypted bytes, in order; each element holds everything decrypted since the
    /// previous one. Ends (`nil`) at the peer's close_notify or a local close; throws
    /// `TLSError` (`truncated`, `protocolError`) or TCP's `IOError`. One pending read at a
    /// time (`IOError.Code.readInProgress` otherwise).
    public struct Inbound: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        let stream: TLSStream

        public func makeAsyncIterator() -> Iterator { Iterator(stream: stream) }

        public struct Iterator: AsyncIteratorProtocol {
            let stream: TLSStream

            public mutating func next() async throws -> [UInt8]? { try await stream.read() }

            nonisolated(nonsending) public mutating func next(isolation actor: (any Actor)?) async throws -> [UInt8]? {
                try await stream.read()
            }
        }
    }

    public var inbound: Inbound { Inbound(stream: self) }

    /// Takes everything decrypted so far, or waits for more.
    public func read() async throws -> [UInt8]? {
        if eventLoop.inEventLoop, let ready = try takeReady() { return ready }
        let loop = eventLoop
        let wait = WaitCancellation()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.runOnLoop {
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

    /// What a read returns without waiting: `.some(bytes)`, `.some(nil)` at a clean end,
    /// or nil when it must wait. Throws how the stream ended otherwise. Loop thread.
    func takeReady() throws -> [UInt8]?? {
        if !pending.isEmpty {
            let wasBlocked = consumerBlocked
            var chunk: [UInt8] = []
            swap(&chunk, &pending)
            // Records may wait in OpenSSL's input: decrypt them on the next turn.
            if wasBlocked { scheduleDrain() }
            return .some(chunk)
        }
        switch readEnd {
        case .clean: return .some(nil)
        case .failed(let error): throw error
        case nil: break
        }
        if case .closed = phase { return .some(nil) }
        return nil
    }

    private func parkReader(_ continuation: UnsafeContinuation<[UInt8]?, any Error>) {
        do {
            if let ready = try takeReady() { return continuation.resume(returning: ready) }
        } catch {
            return continuation.resume(throwing: error)
        }
        if reader != nil { return continuation.resume(throwing: IOError(.readInProgress, operation: "read")) }
        reader = continuation
    }

    /// Resumes the parked reader if there is something for it. Loop thread.
    func wakeReader() {
        guard let reader else { return }
        do {
            guard let ready = try takeReady() else { return }
            self.reader = nil
            reader.resume(returning: ready)
        } catch {
            self.reader = nil
            reader.resume(throwing: error)
        }
    }

    public func startReceiving(_ receiver: any ByteStreamReceiver) {
        precondition(eventLoop.inEventLoop, "startReceiving must be called on the stream's event loop")
        if !pending.isEmpty {
            var buffered: [UInt8] = []
            swap(&buffered, &pending)
            buffered.withUnsafeMutableBytes { receiver.streamDidReceive($0) }
        }
        switch readEnd {
        case .clean: return receiver.streamDidEnd(nil)
        case .failed(let error): return receiver.streamDidEnd(error)
        case nil: break
        }
        if case .closed = phase { return receiver.streamDidEnd(nil) }
        self.receiver = receiver
        scheduleDrain()
    }

    public func pauseReceiving() {
        receivingPaused = true
        updateTransportFlow()
    }

    public func resumeReceiving() {
        receivingPaused = false
        scheduleDrain()
    }
}
