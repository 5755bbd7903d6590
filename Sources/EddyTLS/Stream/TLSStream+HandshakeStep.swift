import COpenSSL
import EddyLoop

/// One step of the handshake on the loop (`SSL_do_handshake` as far as the input allows),
/// its failure with OpenSSL's reasons and the verification result, and what a completed
/// handshake agreed (`TLSSession`).
extension TLSStream {
    func stepHandshake() {
        OpenSSLErrors.clear()
        let result = SSL_do_handshake(ssl)
        let status = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
        let failure = result == 1 || status == SSL_ERROR_WANT_READ ? nil : handshakeFailure(status)
        // Even a failure has bytes to send: the alert that tells the peer why. A write error
        // here means TCP is already gone; the handshake's own outcome is what is reported.
        _ = try? flushOutput()
        if result == 1 { return finishHandshake() }
        if let failure {
            if failure.sentPlaintextHTTP, role == .server { answerPlaintextHTTP() }
            return fail(failure.error)
        }
        // SSL_ERROR_WANT_READ: wait for the peer.
    }

    /// The error for a failed handshake step, with OpenSSL's reasons and the certificate
    /// verification result, and whether the peer spoke plaintext HTTP (OpenSSL recognises a
    /// request line or a proxy `CONNECT` where a ClientHello belongs). Right after the
    /// call: reads the error queue.
    func handshakeFailure(_ status: Int32) -> (error: TLSError, sentPlaintextHTTP: Bool) {
        let drained = OpenSSLErrors.drain()
        let plaintextHTTP = drained.contains(SSL_R_HTTP_REQUEST) || drained.contains(SSL_R_HTTPS_PROXY_REQUEST)
        var reasons = drained.reasons
        var code = TLSError.Code.handshakeFailed
        let verification = SSL_get_verify_result(ssl)
        if verification != X509_V_OK {
            code = .certificateRejected
            reasons.append("certificate verification: \(String(cString: X509_verify_cert_error_string(verification)))")
        }
        if drained.contains(SSL_R_CERTIFICATE_VERIFY_FAILED) || drained.contains(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            code = .certificateRejected
        }
        if reasons.isEmpty {
            switch status {
            case SSL_ERROR_ZERO_RETURN: reasons = ["the peer sent close_notify during the handshake"]
            case SSL_ERROR_SYSCALL: reasons = ["the transport ended during the handshake"]
            default: reasons = ["SSL_do_handshake failed (SSL_get_error \(status))"]
            }
        }
        return (TLSError(code, operation: "TLS handshake with \(peerDescription)", reasons: reasons), plaintextHTTP)
    }

    /// The one plaintext answer a TLS server gives: a browser or `curl` that sent `http://`
    /// to this port is told, in HTTP it can read, to use `https://` (as nginx answers 400
    /// "plain HTTP request sent to HTTPS port"), instead of seeing the connection drop with
    /// no reason. The listener closes the connection after it; the bytes are corked on TCP
    /// and handed to the kernel before the close.
    func answerPlaintextHTTP() {
        let body = "This port speaks TLS: use https:// (or wss:// for WebSockets).\n"
        let head = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        // The connection is being failed either way; if TCP refuses the bytes, the close
        // that follows is the answer.
        _ = try? transport.writeWithoutWaiting(Array((head + body).utf8))
    }

    func finishHandshake() {
        phase = .established
        stopHandshakeTimer()
        established = describeSession()
        if let waiter = handshakeWaiter {
            handshakeWaiter = nil
            waiter.resume()
        }
    }

    func stopHandshakeTimer() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }

    func describeSession() -> TLSSession {
        var selected: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &selected, &length)
        let alpn = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        var subject: String?
        if let certificate = SSL_get1_peer_certificate(ssl) {
            // A fixed buffer X509_NAME_oneline fills and NUL-terminates.
            var buffer = [CChar](repeating: 0, count: 512)
            let count = Int32(buffer.count)
            buffer.withUnsafeMutableBufferPointer { _ = X509_NAME_oneline(X509_get_subject_name(certificate), $0.baseAddress, count) }
            subject = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            X509_free(certificate)
        }
        return TLSSession(
            protocolVersion: String(cString: SSL_get_version(ssl)),
            cipher: SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "",
            applicationProtocol: alpn.flatMap { $0.isEmpty ? nil : $0 },
            serverName: eddy_tls_server_name(ssl).map { String(cString: $0) },
            peerCertificateSubject: subject)
    }
}
