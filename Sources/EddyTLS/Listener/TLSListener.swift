public import EddyLoop
public import EddyNet

/// A `ByteStreamListener` of TLS streams over a `TCPListener`: each accepted connection
/// runs the server handshake before its handler sees it, so `HTTPServer` (and WebSockets
/// behind it) serve HTTPS and `wss://` unchanged.
///
/// Guarantees (on top of `ByteStreamListener`'s): a handler only ever gets an established
/// stream; a handshake that fails or outlasts the context's `handshakeTimeout` closes that
/// connection alone (reported to `onHandshakeFailure`) and the listener keeps serving;
/// every connection uses the context current when it was accepted, so
/// `context.reload()` affects new connections only; a stream whose handler returns
/// (`.close`), throws, or whose handed-over body returns is closed with close_notify.
public final class TLSListener: ByteStreamListener {
    public typealias Stream = TLSStream
    /// The TCP listener underneath.
    public let transport: TCPListener
    /// Certificates and settings; reload it to renew the certificate.
    public let context: TLSContext
    private let onHandshakeFailure: (@Sendable (any Error) -> Void)?

    /// Serves TLS on `transport`'s connections with `context` (a server context).
    /// `onHandshakeFailure` hears every failed handshake (for logs and tests).
    public init(wrapping transport: TCPListener, context: TLSContext, onHandshakeFailure: (@Sendable (any Error) -> Void)? = nil) throws(TLSError) {
        try Self.validate(context)
        self.transport = transport
        self.context = context
        self.onHandshakeFailure = onHandshakeFailure
    }

    /// Checks `context` can serve (a server context).
    public static func validate(_ context: TLSContext) throws(TLSError) {
        guard context.configuration.role == .server else {
            throw TLSError(.invalidConfiguration, operation: "TLS listener", reasons: ["the context is a client context"])
        }
    }

    /// Binds a TCP listener (see `TCPListener.bind`) and serves TLS on it.
    public static func bind(
        host: String,
        port: Int,
        context: TLSContext,
        group: EventLoopGroup,
        configuration: TCPConfiguration = TCPConfiguration(),
        onHandshakeFailure: (@Sendable (any Error) -> Void)? = nil
    ) async throws -> TLSListener {
        let transport = try await TCPListener.bind(host: host, port: port, group: group, configuration: configuration)
        do {
            return try TLSListener(wrapping: transport, context: context, onHandshakeFailure: onHandshakeFailure)
        } catch {
            await transport.close()
            throw error
        }
    }

    public var eventLoop: EventLoop { transport.eventLoop }
    /// The bound address; with port 0, the port the kernel chose.
    public var localAddress: SocketAddress { transport.localAddress }

    public func serveHandingOver(_ handler: @escaping @Sendable (TLSStream) async throws -> ConnectionOutcome) async throws {
        let context = self.context
        let onHandshakeFailure = self.onHandshakeFailure
        try await transport.serveHandingOver { connection in
            let peer = connection.remoteAddress.map { "\($0)" } ?? "client"
            let stream: TLSStream
            do {
                stream = try TLSStream(transport: connection, context: context.current, serverName: nil, peerDescription: peer)
                try await stream.handshake(timeout: context.configuration.handshakeTimeout)
            } catch {
                onHandshakeFailure?(error)
                return .close
            }
            let outcome: ConnectionOutcome
            do {
                outcome = try await handler(stream)
            } catch {
                await stream.close()
                throw error
            }
            switch outcome {
            case .close:
                await stream.close()
                return .close
            case .handOver(let body):
                return .handOver {
                    await body()
                    await stream.close()
                }
            case .keepOpen:
                return .keepOpen
            }
        }
    }

    public func close() async { await transport.close() }
}
