import EddyLoop
import EddyNet

extension TLSStream {
    /// Runs the handshake over the TCP connection, within `timeout`.
    ///
    /// - Throws: `TLSError` (`handshakeFailed`, `certificateRejected`, `handshakeTimedOut`)
    ///   with OpenSSL's reasons, TCP's `IOError`, or `CancellationError`. The stream is not
    ///   closed: the caller closes it.
    func handshake(timeout: Duration) async throws {
        let loop = eventLoop
        let wait = WaitCancellation()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                loop.runOnLoop {
                    if wait.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return self.closeForCancellation()
                    }
                    self.startHandshake(continuation, timeout: timeout)
                }
            }
        } onCancel: {
            wait.cancel()
            closeForCancellationSoon()
        }
    }

    private func startHandshake(_ continuation: UnsafeContinuation<Void, any Error>, timeout: Duration) {
        guard case .created = phase else {
            return continuation.resume(throwing: TLSError(.notEstablished, operation: "TLS handshake with \(peerDescription)",
                                                          reasons: ["the handshake was already started"]))
        }
        phase = .handshaking
        handshakeWaiter = continuation
        handshakeTimer = eventLoop.schedule(after: timeout) { [self] in
            guard case .handshaking = phase else { return }
            fail(TLSError(.handshakeTimedOut, operation: "TLS handshake with \(peerDescription)",
                          reasons: ["no complete handshake within \(timeout)"]))
        }
        // May deliver buffered bytes (or the end) at once, which advances the handshake.
        transport.startReceiving(TransportReceiver(self))
        // The client speaks first; a server may already have the whole ClientHello.
        if case .handshaking = phase { advance() }
    }
}

/// Forwards what TCP pushes to its TLS stream. TCP holds it until it reports the end.
final class TransportReceiver: ByteStreamReceiver {
    let stream: TLSStream

    init(_ stream: TLSStream) { self.stream = stream }

    func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) { stream.transportDidReceive(bytes) }
    func streamDidEnd(_ error: (any Error)?) { stream.transportDidEnd(error) }
}
