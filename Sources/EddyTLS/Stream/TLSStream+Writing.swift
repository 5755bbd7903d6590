import COpenSSL
import EddyLoop
import EddyNet

extension TLSStream {
    public func write(_ bytes: [UInt8]) async throws {
        try await write(contentsOf: CollectionOfOne(bytes))
    }

    public func write(contentsOf buffers: [[UInt8]]) async throws {
        try await write(contentsOf: buffers[...])
    }

    public func writeWithoutWaiting(contentsOf buffers: [[UInt8]]) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the stream's event loop")
        return try encrypt(buffers)
    }

    public func writeWithoutWaiting(_ bytes: [UInt8]) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the stream's event loop")
        return try encrypt(CollectionOfOne(bytes))
    }

    public func writeWithoutWaiting(_ header: RawSpan, _ payload: RawSpan) throws -> Bool {
        precondition(eventLoop.inEventLoop, "writeWithoutWaiting must be called on the stream's event loop")
        if plainCork.count + header.byteCount + payload.byteCount < PlaintextBuffer.size {
            try checkWritable()
            reservePlainCork(header.byteCount + payload.byteCount)
            plainCork.append(joining: header, payload)
            return try plaintextCorked()
        }
        return try encrypt(CollectionOfOne([UInt8](joining: header, payload)))
    }

    /// Waits for the TCP connection's queue (which holds the encrypted bytes).
    public func waitUntilWritable() async throws {
        try await transport.waitUntilWritable()
    }

    private func write<Buffers: Collection & Sendable>(contentsOf buffers: Buffers) async throws
    where Buffers.Element == [UInt8] {
        let underWatermark: Bool
        if eventLoop.inEventLoop {
            underWatermark = try encrypt(buffers)
        } else {
            underWatermark = try await eventLoop.submit { try self.encrypt(buffers) }
        }
        if !underWatermark { try await transport.waitUntilWritable() }
    }

    /// Encrypts `buffers` and hands the records to TCP; returns whether TCP's queue is at
    /// or under its high watermark. Small writes are corked like TCP's: everything written
    /// in one loop iteration (up to a record) is encrypted together at its end, one record
    /// instead of one per write (OpenSSL's per-record cost dominates small messages).
    /// Buffers written together (a frame header and its payload) are joined, so a header
    /// never becomes a record of its own. Loop thread.
    func encrypt<Buffers: Collection>(_ buffers: Buffers) throws -> Bool where Buffers.Element == [UInt8] {
        try checkWritable()
        let total = buffers.reduce(0) { $0 + $1.count }
        if plainCork.count + total < PlaintextBuffer.size {
            reservePlainCork(total)
            for buffer in buffers { plainCork += buffer }
            return try plaintextCorked()
        }
        _ = try flushPlainCork() // keep order: corked bytes first
        if buffers.count == 1, let only = buffers.first { return try encryptWholeRecords(only) }
        var joined: [UInt8] = []
        joined.reserveCapacity(total)
        for buffer in buffers { joined += buffer }
        return try encryptWholeRecords(joined)
    }

    /// Throws unless the stream is established and not shut for writing.
    private func checkWritable() throws {
        switch phase {
        case .established: break
        case .failed(let error): throw error
        case .closed: throw IOError(.closed, operation: "write")
        case .created, .handshaking: throw TLSError(.notEstablished, operation: "write to \(peerDescription)")
        }
        guard !writeShut else { throw IOError(.closed, operation: "write after shutdownWrite") }
    }

    /// Small writes were added to `plainCork`: they are encrypted with the rest of this loop
    /// iteration's writes into one record at its end (or when the cork fills). Reports TCP's
    /// queue as it is.
    private func plaintextCorked() throws -> Bool {
        registerPlainCork()
        return try transport.writeWithoutWaiting([])
    }

    /// Makes room for `count` more bytes in `plainCork`, which becomes a buffer of the loop's
    /// pool on the first write of an iteration (given back once encrypted): like TCP's cork,
    /// so a burst to thousands of TLS streams allocates and frees no buffer per stream.
    private func reservePlainCork(_ count: Int) {
        guard count > 0 else { return } // nothing to cork: no buffer held for it
        if plainCork.capacity == 0 {
            plainCork = eventLoop.takeWriteBuffer(minimumCapacity: count)
        } else if plainCork.capacity - plainCork.count < count {
            plainCork.reserveCapacity(Swift.max(plainCork.count + count, 2 * plainCork.capacity))
        }
    }

    /// Makes sure the corked plaintext is encrypted at the end of this loop iteration.
    private func registerPlainCork() {
        if !plainCorkRegistered {
            plainCorkRegistered = true
            eventLoop.flushAtEndOfIteration(self)
        }
    }

    /// Encrypts the full records' worth of `bytes` now and corks the tail: a 16 KiB
    /// message plus its frame header would otherwise end in a record of a few bytes (each
    /// record costs as much OpenSSL work as a small message).
    private func encryptWholeRecords(_ bytes: [UInt8]) throws -> Bool {
        let whole = bytes.count - bytes.count % PlaintextBuffer.size
        let underWatermark = try bytes[..<whole].withUnsafeBytes { try encryptOne($0) }
        if whole < bytes.count {
            reservePlainCork(bytes.count - whole)
            plainCork += bytes[whole...]
            registerPlainCork()
        }
        return underWatermark
    }

    /// Encrypts the corked plaintext, if any. Loop thread.
    func flushPlainCork() throws -> Bool {
        guard !plainCork.isEmpty else { return true }
        // A failed or closed stream makes no more SSL calls; its writers have been told.
        guard isEstablished else {
            eventLoop.recycleWriteBuffer(&plainCork)
            return true
        }
        // Swapped out first (no reference counting) and given back to the loop's pool: an
        // idle connection holds no plaintext buffer.
        var bytes: [UInt8] = []
        swap(&bytes, &plainCork)
        defer { eventLoop.recycleWriteBuffer(&bytes) }
        return try bytes.withUnsafeBytes { try encryptOne($0) }
    }

    /// `SSL_write` in pieces of at most one record, flushing after each, so the output BIO
    /// never holds more than a record's worth.
    private func encryptOne(_ raw: UnsafeRawBufferPointer) throws -> Bool {
        guard let base = raw.baseAddress else { return true }
        var underWatermark = true
        var offset = 0
        // Bounded: each round consumes at least one byte or throws.
        while offset < raw.count {
            let piece = min(PlaintextBuffer.size, raw.count - offset)
            OpenSSLErrors.clear()
            let written = SSL_write(ssl, base + offset, Int32(piece))
            let status = written > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, written)
            let drained = written > 0 ? nil : OpenSSLErrors.drain()
            underWatermark = try flushOutput()
            guard written > 0 else {
                let reasons = drained?.reasons ?? []
                let error = TLSError(.protocolError, operation: "TLS write to \(peerDescription)",
                                     reasons: reasons.isEmpty ? ["SSL_write failed (SSL_get_error \(status))"] : reasons)
                fail(error)
                throw error
            }
            offset += Int(written)
        }
        releaseIdleBuffers()
        return underWatermark
    }

    /// Sends close_notify, then TCP's FIN; reading goes on (the peer may still send).
    public func shutdownWrite() async throws {
        if eventLoop.inEventLoop {
            try shutdownTLSWrite()
        } else {
            try await eventLoop.submit { try self.shutdownTLSWrite() }
        }
        try await transport.shutdownWrite()
    }

    private func shutdownTLSWrite() throws {
        switch phase {
        case .established: break
        case .failed(let error): throw error
        case .closed: throw IOError(.closed, operation: "shutdown")
        case .created, .handshaking: throw TLSError(.notEstablished, operation: "shutdown of \(peerDescription)")
        }
        sendCloseNotify()
        writeShut = true
    }

    /// Sends close_notify once (healthy sessions only: OpenSSL forbids it after a fatal
    /// error). Loop thread.
    func sendCloseNotify() {
        guard isEstablished, !closeNotifySent else { return }
        _ = try? flushPlainCork() // what was written goes out before the close
        guard isEstablished else { return }
        closeNotifySent = true
        OpenSSLErrors.clear()
        _ = SSL_shutdown(ssl) // 0: sent, the peer's not seen yet; 1: both done
        _ = OpenSSLErrors.drain()
        _ = try? flushOutput() // safe to drop: a close_notify TCP refuses is answered by the close
    }
}

extension TLSStream: EndOfIterationFlushable {
    /// Encrypts what this iteration's writes corked. A failure has failed the stream (its
    /// reader hears it); the writers were already told their bytes were queued, as with
    /// TCP's cork.
    package func flushAtEndOfIteration() {
        plainCorkRegistered = false
        _ = try? flushPlainCork() // safe to drop: a failure has closed the stream and failed its writers
    }
}
