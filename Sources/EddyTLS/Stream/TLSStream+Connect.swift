public import EddyLoop
public import EddyNet

/// Client connections: TCP, then the client handshake with SNI and host name verification.
extension TLSStream {
    /// Makes a client stream over `transport` and runs the handshake; closes the stream if
    /// it fails.
    static func client(
        over transport: TCPConnection, context: TLSContext, serverName: String?, peer: String
    ) async throws -> TLSStream {
        guard context.configuration.role == .client else {
            await transport.close()
            throw TLSError(.invalidConfiguration, operation: "TLS connect to \(peer)", reasons: ["the context is a server context"])
        }
        let stream: TLSStream
        do {
            stream = try TLSStream(transport: transport, context: context.current, serverName: serverName, peerDescription: peer)
        } catch {
            await transport.close()
            throw error
        }
        do {
            try await stream.handshake(timeout: context.configuration.handshakeTimeout)
        } catch {
            await stream.close()
            throw error
        }
        return stream
    }

    /// Connects to `host:port` over TCP and runs a client handshake: `serverName` (default
    /// `host`) is sent by SNI and, under `.full` verification, must be named by the
    /// server's certificate.
    ///
    /// - Parameters:
    ///   - context: a client `TLSContext` (make it once; it holds the trust store).
    ///   - connectTimeout: for the TCP connection (`TCPConnection.connect`); the handshake
    ///     has the context's `handshakeTimeout`.
    /// - Throws: TCP's `IOError`, or `TLSError` with OpenSSL's reasons.
    public static func connect(
        host: String,
        port: Int,
        context: TLSContext,
        serverName: String? = nil,
        on loop: EventLoop,
        tcp: TCPConfiguration = TCPConfiguration(),
        connectTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        // On the loop from the TCP connect to the ClientHello: a caller on Swift's global
        // pool, kept busy elsewhere, would otherwise delay the ClientHello while the
        // server's handshake deadline (running since its accept) runs out.
        try await withTaskExecutorPreference(loop) {
            let transport = try await TCPConnection.connect(host: host, port: port, on: loop, configuration: tcp, timeout: connectTimeout)
            return try await client(over: transport, context: context, serverName: serverName ?? host, peer: "\(host):\(port)")
        }
    }

    /// `connect(host:port:context:…)` with a context made from `configuration` for this
    /// one connection.
    public static func connect(
        host: String,
        port: Int,
        configuration: TLSConfiguration,
        serverName: String? = nil,
        on loop: EventLoop,
        tcp: TCPConfiguration = TCPConfiguration(),
        connectTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        let context = try TLSContext(configuration)
        return try await connect(host: host, port: port, context: context, serverName: serverName, on: loop,
                                 tcp: tcp, connectTimeout: connectTimeout)
    }
}
