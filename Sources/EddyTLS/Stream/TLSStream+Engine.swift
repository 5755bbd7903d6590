import COpenSSL
import EddyLoop
import EddyNet

/// The OpenSSL driving loop: bytes from TCP into the input BIO, the handshake or
/// `SSL_read` until OpenSSL wants more input, the output BIO to TCP after every call.
/// Everything here runs on the loop thread.
extension TLSStream {
    /// Decrypted bytes land here before they are copied out or pushed: one buffer per loop,
    /// so an idle connection owns none. Delivery from it is never nested (see
    /// `scheduleDrain`), so one buffer is enough.
    final class PlaintextBuffer {
        /// The largest plaintext one TLS record carries.
        static let size = 16 * 1024
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: PlaintextBuffer.size, alignment: 16)
        deinit { bytes.deallocate() }
    }

    /// Encrypted records go from the output BIO through here into TCP's cork (a buffer of
    /// the loop's pool), one buffer per loop: no array is made per record. (With one array
    /// per record, 10,000 TLS dashboards made 10,000 per burst, all freed at the iteration's
    /// end: the heap grew and was trimmed by megabytes every burst, and each burst faulted
    /// its pages in again.)
    final class CiphertextBuffer {
        /// Output at least this large is written at once by TCP, not corked: it goes in an
        /// array of its own.
        static let size = TCPConnection.corkLimit
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: CiphertextBuffer.size, alignment: 16)
        deinit { bytes.deallocate() }
    }

    /// Records decrypted per drain before the loop gets a turn (the rest wait for the next).
    static let recordsPerDrain = 256

    // MARK: Transport events

    /// Ciphertext arrived from TCP.
    func transportDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
        guard isRunning, readEnd == nil, let base = bytes.baseAddress else { return }
        var offset = 0
        // Bounded: each round writes at least one byte (a memory BIO takes everything it
        // can allocate; a failure ends the loop).
        while offset < bytes.count {
            let written = BIO_write(networkIn, base + offset, Int32(clamping: bytes.count - offset))
            guard written > 0 else {
                return fail(TLSError(.protocolError, operation: "buffer received bytes from \(peerDescription)", reasons: OpenSSLErrors.drain().reasons))
            }
            offset += Int(written)
        }
        // What the receiver writes in answer is encrypted as this read ends, not at the end
        // of the loop iteration (and TCP sends it as its own read callback returns): the
        // plaintext cork's pool buffer is back before the next stream's read, so one warm
        // buffer serves every stream that reads in an iteration. Marked as registered
        // meanwhile, so that a write does not list the stream for the iteration's end.
        let registered = plainCorkRegistered
        plainCorkRegistered = true
        advance()
        if !registered {
            plainCorkRegistered = false
            _ = try? flushPlainCork() // safe to drop: a failure has closed the stream and failed its writers
        }
    }

    /// TCP ended: at the peer's FIN (`nil`), which OpenSSL then sees as the input's end of
    /// file, or with an error, which ends this stream too.
    func transportDidEnd(_ error: (any Error)?) {
        transportEnded = true
        guard isRunning else { return }
        if let error { return fail(error) }
        eddy_tls_bio_set_eof(networkIn)
        advance()
    }

    /// Handshaking or established (SSL calls allowed).
    var isRunning: Bool {
        switch phase {
        case .handshaking, .established: true
        case .created, .failed, .closed: false
        }
    }

    var isEstablished: Bool {
        if case .established = phase { return true }
        return false
    }

    /// Runs OpenSSL as far as the input allows.
    func advance() {
        if case .handshaking = phase { stepHandshake() }
        if isEstablished { readRecords() }
    }

    /// A drain on the loop's next turn: after the consumer made room, or when push delivery
    /// (re)starts. Never inline, so that delivering never nests inside another delivery
    /// (which would overwrite the loop's shared plaintext buffer).
    func scheduleDrain() {
        guard !drainScheduled else { return }
        drainScheduled = true
        eventLoop.execute {
            self.drainScheduled = false
            self.advance()
        }
    }

    // MARK: Reading records

    /// Whether decrypted bytes must wait: push delivery paused, or too many waiting for a
    /// pull consumer.
    var consumerBlocked: Bool {
        receiver != nil ? receivingPaused : pending.count >= transport.configuration.readHighWatermark
    }

    /// `SSL_read` until OpenSSL wants input, the consumer is full, or the stream ends.
    func readRecords() {
        let buffer = eventLoop.helper(PlaintextBuffer.self) { PlaintextBuffer() }.bytes
        var rounds = 0
        while readEnd == nil, isEstablished, !consumerBlocked {
            if rounds == Self.recordsPerDrain { scheduleDrain(); break }
            rounds += 1
            OpenSSLErrors.clear()
            let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
            let status = count > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, count)
            let drained = status == SSL_ERROR_SSL || status == SSL_ERROR_SYSCALL ? OpenSSLErrors.drain() : nil
            _ = try? flushOutput() // safe to drop: a failed flush means TCP is gone, which the read reports next
            if count > 0 {
                deliver(UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(count)]))
                continue
            }
            switch status {
            case SSL_ERROR_WANT_READ:
                if transportEnded { fail(truncation(nil)) }
            case SSL_ERROR_ZERO_RETURN:
                endReading(nil) // close_notify: a clean end
            default:
                let reasons = drained?.reasons ?? []
                if drained?.contains(SSL_R_UNEXPECTED_EOF_WHILE_READING) == true || (status == SSL_ERROR_SYSCALL && transportEnded) {
                    fail(truncation(reasons))
                } else {
                    fail(TLSError(.protocolError, operation: "TLS read from \(peerDescription)",
                                        reasons: reasons.isEmpty ? ["SSL_read failed (SSL_get_error \(status))"] : reasons))
                }
            }
            break
        }
        releaseIdleBuffers()
        updateTransportFlow()
        wakeReader()
    }

    private func truncation(_ reasons: [String]?) -> TLSError {
        TLSError(.truncated, operation: "TLS read from \(peerDescription)",
                 reasons: reasons ?? ["the transport ended without close_notify"])
    }

    private func deliver(_ bytes: UnsafeMutableRawBufferPointer) {
        if let receiver {
            receiver.streamDidReceive(bytes)
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    /// Stops TCP reading while the consumer is blocked, and restarts it once it is not.
    func updateTransportFlow() {
        let pause = consumerBlocked && readEnd == nil && isRunning
        if pause && !transportPaused {
            transportPaused = true
            transport.pauseReceiving()
        } else if !pause && transportPaused {
            transportPaused = false
            transport.resumeReceiving()
        }
    }

    // MARK: Ending

    /// OpenSSL failed for good (no more SSL calls), or the transport failed: the handshake
    /// waiter and the reader learn `error`; the owner closes the stream.
    func fail(_ error: any Error) {
        switch phase {
        case .created, .handshaking, .established: break
        case .failed, .closed: return
        }
        phase = .failed(error)
        stopHandshakeTimer()
        if let waiter = handshakeWaiter {
            handshakeWaiter = nil
            waiter.resume(throwing: error)
        }
        endReading(error)
    }

    /// The inbound side ended: nil is a clean end (close_notify, local close). The
    /// receiver hears it now; a pull reader after the bytes still pending.
    func endReading(_ error: (any Error)?) {
        if readEnd == nil { readEnd = error.map { .failed($0) } ?? .clean }
        if let receiver {
            self.receiver = nil
            receiver.streamDidEnd(error)
        }
        wakeReader()
    }

    // MARK: Output

    /// Hands everything OpenSSL wrote to TCP. Returns whether TCP's outbound queue is at
    /// or under its high watermark. Throws TCP's error (the connection is closing).
    @discardableResult
    func flushOutput() throws -> Bool {
        let count = BIO_ctrl_pending(networkOut)
        guard count > 0 else { return true }
        let output = networkOut
        if count < CiphertextBuffer.size {
            // TCP copies them into its cork before it returns (or writes them at once): the
            // loop's buffer is free again when this returns, whatever TCP's write leads to.
            let scratch = eventLoop.helper(CiphertextBuffer.self) { CiphertextBuffer() }.bytes
            let read = Int(max(0, BIO_read(output, scratch.baseAddress, Int32(count))))
            guard read > 0 else { return true }
            return try transport.writeWithoutWaiting(
                RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: scratch[..<read])),
                RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: nil, count: 0)))
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = Int(max(0, BIO_read(output, buffer.baseAddress, Int32(clamping: count))))
        }
        return try transport.writeWithoutWaiting(bytes)
    }

    /// What this connection's OpenSSL objects hold besides the `SSL` itself: the capacity
    /// of both BIO buffers, and whether record buffers are released when idle. Loop thread.
    var bufferFootprint: (bioCapacity: Int, releasesRecordBuffers: Bool) {
        (eddy_tls_bio_capacity(networkIn) + eddy_tls_bio_capacity(networkOut), eddy_tls_releases_buffers(ssl) == 1)
    }

    /// Swaps an empty BIO whose buffer grew for a fresh one, so an idle connection keeps no
    /// large buffer (memory BIOs never shrink).
    func releaseIdleBuffers() {
        let limit = 4 * 1024
        if BIO_ctrl_pending(networkIn) == 0, eddy_tls_bio_capacity(networkIn) > limit, let fresh = eddy_tls_memory_bio() {
            if transportEnded { eddy_tls_bio_set_eof(fresh) }
            SSL_set0_rbio(ssl, fresh) // frees the old one
            networkIn = fresh
        }
        if BIO_ctrl_pending(networkOut) == 0, eddy_tls_bio_capacity(networkOut) > limit, let fresh = eddy_tls_memory_bio() {
            SSL_set0_wbio(ssl, fresh)
            networkOut = fresh
        }
    }
}
