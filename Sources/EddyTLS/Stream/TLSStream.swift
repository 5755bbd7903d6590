import COpenSSL
import Glibc
public import EddyLoop
public import EddyNet

/// A TLS connection over a `TCPConnection`: a `ByteStream`, so HTTP and WebSocket run over
/// it unchanged. OpenSSL works on two memory BIOs; this type moves bytes between them and
/// the TCP connection on the connection's loop.
///
/// Guarantees (on top of `ByteStream`'s):
/// - All OpenSSL calls run on `eventLoop`'s thread, each preceded by clearing the error
///   queue and followed at once (no suspension) by its error check, and every call's output
///   (reads included: alerts, session tickets, key updates) is handed to TCP before the
///   next one.
/// - Encrypted bytes count towards the TCP connection's outbound watermark, so `write`
///   waits exactly when TCP would; decrypting stops (and TCP stops reading) while
///   `readHighWatermark` decrypted bytes wait for a consumer, or while push delivery is
///   paused.
/// - The peer's close_notify ends `inbound` cleanly (`nil`); a transport that ends without
///   one ends it with `TLSError.Code.truncated`, never with a clean end. `close()` and
///   `shutdownWrite()` send close_notify first.
/// - Every failure carries OpenSSL's reason strings (`TLSError`).
/// - An idle connection holds no record buffers (`SSL_MODE_RELEASE_BUFFERS`) and no large
///   BIO buffers.
public final class TLSStream: ByteStream, @unchecked Sendable {
    public let eventLoop: EventLoop
    /// The TCP connection carrying the encrypted bytes.
    public let transport: TCPConnection
    /// Which side of the handshake this stream plays.
    public let role: TLSConfiguration.Role
    /// Who the peer is, for error messages (`"127.0.0.1:8443"`).
    let peerDescription: String
    /// Holds the context (and the memory of its callbacks) for as long as the `SSL` lives.
    let context: SSLContext
    let ssl: OpaquePointer
    /// Ciphertext from the network, which OpenSSL reads (owned by `ssl`; may be replaced
    /// by a fresh one when idle, see `releaseIdleBuffers`).
    var networkIn: OpaquePointer
    /// Ciphertext OpenSSL wrote, for the network (owned by `ssl`).
    var networkOut: OpaquePointer

    enum Phase {
        /// Made; the handshake has not started.
        case created
        case handshaking
        /// Application data flows.
        case established
        /// OpenSSL failed for good (no more SSL calls); the owner closes the stream.
        case failed(any Error)
        /// Closed locally.
        case closed
    }

    /// How the inbound side ended.
    enum ReadEnd {
        /// close_notify received, or the stream was closed locally: a clean end.
        case clean
        case failed(any Error)
    }

    // Loop-thread state.
    var phase = Phase.created
    var handshakeWaiter: UnsafeContinuation<Void, any Error>?
    var handshakeTimer: ScheduledWork?
    /// Session facts, set when the handshake completes.
    var established: TLSSession?
    // Read side.
    var pending: [UInt8] = []
    var reader: UnsafeContinuation<[UInt8]?, any Error>?
    var readEnd: ReadEnd?
    var receiver: (any ByteStreamReceiver)?
    var receivingPaused = false
    var transportPaused = false
    var transportEnded = false
    var drainScheduled = false
    // Write side.
    /// Small writes of this loop iteration, encrypted together at its end.
    var plainCork: [UInt8] = []
    var plainCorkRegistered = false
    var closeNotifySent = false
    var writeShut = false

    /// Wraps `transport` for a handshake as `context`'s role. For a client, `serverName`
    /// is sent by SNI (when it is a DNS name) and, under `.full` verification, must be
    /// named by the server's certificate (a DNS name or an IP address).
    init(transport: TCPConnection, context: SSLContext, serverName: String?, peerDescription: String) throws(TLSError) {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context.pointer) else { throw SSLContext.failure("SSL_new", code: .invalidConfiguration) }
        guard let input = eddy_tls_memory_bio(), let output = eddy_tls_memory_bio() else {
            SSL_free(ssl)
            throw SSLContext.failure("BIO_new", code: .invalidConfiguration)
        }
        SSL_set_bio(ssl, input, output) // `ssl` owns both from here
        self.ssl = ssl
        self.networkIn = input
        self.networkOut = output
        self.context = context
        self.role = context.role
        self.transport = transport
        self.eventLoop = transport.eventLoop
        self.peerDescription = peerDescription
        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverName { try Self.setPeerName(serverName, on: ssl, verify: context.verification == .full) }
        }
    }

    deinit {
        SSL_free(ssl) // frees both BIOs
    }

    /// SNI for DNS names (RFC 6066 forbids IP literals there) and, when verifying, the name
    /// or address the certificate must carry.
    private static func setPeerName(_ name: String, on ssl: OpaquePointer, verify: Bool) throws(TLSError) {
        OpenSSLErrors.clear()
        let parameters = SSL_get0_param(ssl)
        if isIPAddress(name) {
            guard !verify || X509_VERIFY_PARAM_set1_ip_asc(parameters, name) == 1 else {
                throw SSLContext.failure("server address \(name)", code: .invalidConfiguration, fallback: "invalid IP address")
            }
            return
        }
        guard eddy_tls_set_server_name(ssl, name) == 1 else {
            throw SSLContext.failure("server name \(name)", code: .invalidConfiguration, fallback: "invalid server name")
        }
        if verify {
            X509_VERIFY_PARAM_set_hostflags(parameters, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard SSL_set1_host(ssl, name) == 1 else {
                throw SSLContext.failure("server name \(name)", code: .invalidConfiguration, fallback: "invalid host name")
            }
        }
    }

    /// Whether `name` is an IPv4 or IPv6 literal.
    static func isIPAddress(_ name: String) -> Bool {
        var scratch = (UInt64(0), UInt64(0)) // 16 bytes: room for an in6_addr
        return withUnsafeMutableBytes(of: &scratch) { raw in
            inet_pton(AF_INET, name, raw.baseAddress) == 1 || inet_pton(AF_INET6, name, raw.baseAddress) == 1
        }
    }

    /// What the handshake agreed. Nil until it has completed; read it on `eventLoop`, or
    /// after the call that completed the handshake (`connect`, a listener's handler).
    public var session: TLSSession? { established }

    /// The TCP peer's address.
    public var remoteAddress: SocketAddress? { transport.remoteAddress }

    // MARK: Closing

    /// Sends close_notify (when established), ends pending reads (`nil`), fails pending
    /// writes, and closes the TCP connection. Idempotent.
    public func close() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            eventLoop.runOnLoop {
                self.closeLocally(nil)
                continuation.resume()
            }
        }
        await transport.close()
    }

    public func closeForCancellationSoon() {
        eventLoop.execute { self.closeForCancellation() }
    }

    /// Closes because a task waiting on the stream was cancelled. Loop thread.
    func closeForCancellation() {
        closeLocally(CancellationError())
        transport.closeForCancellationSoon()
    }

    /// Ends the TLS side: close_notify out (if the session is healthy), waiters resumed
    /// once. Loop thread.
    func closeLocally(_ error: (any Error)?) {
        switch phase {
        case .closed: return
        case .established: sendCloseNotify()
        case .created, .handshaking, .failed: break
        }
        phase = .closed
        stopHandshakeTimer()
        if let waiter = handshakeWaiter {
            handshakeWaiter = nil
            waiter.resume(throwing: error ?? IOError(.closed, operation: "TLS handshake with \(peerDescription)"))
        }
        pending = []
        eventLoop.recycleWriteBuffer(&plainCork) // back to the loop's pool (or freed)
        endReading(error)
    }

    public func waitUntilClosed() async { await transport.waitUntilClosed() }
    public func driverFinishesAfterClose() { transport.driverFinishesAfterClose() }
    public func driverFinished() { transport.driverFinished() }
}

/// What a completed handshake agreed on.
public struct TLSSession: Sendable, Hashable {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    public let protocolVersion: String
    /// The cipher suite's OpenSSL name.
    public let cipher: String
    /// The ALPN protocol both sides chose, if any.
    public let applicationProtocol: String?
    /// The name the client asked for by SNI, if any.
    public let serverName: String?
    /// The subject of the peer's certificate (one line), if it presented one.
    public let peerCertificateSubject: String?
}
