import EddyWebSocketCore
public import EddyLoop
public import EddyNet
public import EddyTLS
import EddyHTTP

/// Client settings for `WebSocket.connect`. Every field has a default.
public struct WebSocketClientConfiguration: Sendable {
    /// Subprotocols to offer, in preference order.
    public var subprotocols: [String] = []
    /// Extra request headers (for example `Authorization`).
    public var headers = HTTPHeaders()
    /// An `Origin` header to send (browsers always do; other clients usually don't).
    public var origin: String? = nil
    /// permessage-deflate offer. Default: offered, with Eddy's small-window defaults.
    public var deflate = PerMessageDeflateConfiguration()
    /// Frame, message and keep-alive limits of the connection.
    public var connection = WebSocketConfiguration()
    /// TCP settings.
    public var tcp = TCPConfiguration()
    /// TLS for `wss://` URLs: trust roots, verification, a client certificate. Nil (the
    /// default): a client context trusting the system's store and verifying the host name,
    /// shared by the process (pass one to trust a private CA).
    public var tls: TLSContext? = nil
    /// Time to establish the TCP connection (including DNS). Default 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// Time for the server's handshake response after the request was sent. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Response-head limits.
    public var responseLimits = HTTPParserLimits()

    public init() {}
}

extension WebSocket {
    /// Opens a WebSocket to a `ws://` or `wss://` URL.
    ///
    /// - Throws: `WebSocketHandshakeError` for a bad URL or a response that fails RFC 6455
    ///   §4.1 validation; `IOError` for TCP failures (`ECONNREFUSED`, `ETIMEDOUT` …);
    ///   `TLSError` for TLS failures (an untrusted or expired certificate, a wrong host
    ///   name …, with OpenSSL's reasons); `IOError` `timedOut` when the WebSocket handshake
    ///   takes longer than `handshakeTimeout`.
    public static func connect(
        to url: String,
        configuration: WebSocketClientConfiguration = WebSocketClientConfiguration(),
        on loop: EventLoop
    ) async throws -> WebSocket {
        let target = try WebSocketURL(url)
        let handshake = try WebSocketClientHandshake(
            url: target, subprotocols: configuration.subprotocols, extraHeaders: configuration.headers,
            origin: configuration.origin, deflate: configuration.deflate)
        if target.requiresTLS {
            let context = try configuration.tls ?? Self.systemTrustContext.get()
            let stream = try await TLSStream.connect(
                host: target.host, port: target.port, context: context, serverName: target.bareHost, on: loop,
                tcp: configuration.tcp, connectTimeout: configuration.connectTimeout)
            return try await upgrade(stream, handshake, target, configuration, loop)
        }
        let connection = try await TCPConnection.connect(
            host: target.host, port: target.port, on: loop, configuration: configuration.tcp,
            timeout: configuration.connectTimeout)
        return try await upgrade(connection, handshake, target, configuration, loop)
    }

    /// The client context `wss://` uses when the configuration names none: the system's
    /// trust store, full verification. Made once per process (loading the store reads
    /// every root certificate).
    private static let systemTrustContext = Result { () throws(TLSError) -> TLSContext in try TLSContext(.client()) }

    /// Runs the opening handshake over a connected stream within `handshakeTimeout`;
    /// closes the stream if it fails.
    private static func upgrade<Stream: ByteStream>(
        _ connection: Stream, _ handshake: WebSocketClientHandshake, _ target: WebSocketURL,
        _ configuration: WebSocketClientConfiguration, _ loop: EventLoop
    ) async throws -> WebSocket {
        do {
            return try await loop.withTimeout(configuration.handshakeTimeout) {
                try await Self.handshake(handshake, over: connection, configuration: configuration)
            }
        } catch is TimeoutError {
            await connection.close()
            throw IOError(.timedOut, operation: "WebSocket handshake with \(target.host):\(target.port)")
        } catch {
            await connection.close()
            throw error
        }
    }

    private static func handshake(
        _ handshake: WebSocketClientHandshake,
        over connection: some ByteStream,
        configuration: WebSocketClientConfiguration
    ) async throws -> WebSocket {
        try await connection.write(handshake.requestBytes)
        var parser = HTTPResponseHeadParser(limits: configuration.responseLimits)
        for try await chunk in connection.inbound {
            switch parser.parse(chunk) {
            case .needMoreData:
                continue
            case .failure:
                throw WebSocketHandshakeError(.malformedResponse)
            case .head(let head, let consumed):
                switch handshake.validate(head) {
                case .failure(let error):
                    throw error
                case .success(let agreement):
                    return WebSocket(
                        upgraded: connection, role: .client, configuration: configuration.connection,
                        deflate: agreement.deflate, deflateConfiguration: configuration.deflate,
                        subprotocol: agreement.subprotocol, leftover: Array(chunk[consumed...]))
                }
            }
        }
        throw WebSocketHandshakeError(.malformedResponse)
    }
}
