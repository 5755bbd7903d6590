import EddyHTTPCore
/// Settings of `HTTPServer`. Every field has a default.
public struct HTTPServerConfiguration: Sendable {
    /// Parser limits: request line, head bytes, header count, body bytes.
    public var limits = HTTPParserLimits()
    /// Time a client has to send a complete request (head and body), from the first byte
    /// of the request. Default 10 s: slow clients (Slowloris) are answered 408 and closed.
    public var headerTimeout: Duration = .seconds(10)
    /// Time a keep-alive connection may sit idle between requests. Default 60 s.
    public var idleTimeout: Duration = .seconds(60)
    /// Time a client has to take one response (and, when the connection ends after it,
    /// the half-close). A write waits only while more than the connection's write high
    /// watermark is queued, that is while the client is not reading (a pipelining client
    /// that never reads, or one reading slower than about the low watermark per timeout).
    /// Such a client is disconnected, which frees what was queued for it, in Eddy and in
    /// the kernel (whose share `TCPConfiguration.sendBufferSize` bounds). Default 10 s.
    public var writeTimeout: Duration = .seconds(10)
    /// Largest static file served (bigger files get 500 with a log-free message).
    /// Default 16 MiB; files are read whole, which suits dashboard assets.
    public var maxStaticFileBytes = 16 << 20

    public init() {}
}

/// A request the router sent to an upgrade route, with the stream it arrived on.
///
/// The receiver owns `stream` from here on (it must close it) and must process
/// `leftover` — bytes the client sent right after the request head — before reading
/// more from the stream.
public struct HTTPUpgradeRequest<Stream: Sendable>: Sendable {
    public let stream: Stream
    public let request: HTTPRequest
    public let parameters: HTTPRouteParameters
    public let leftover: [UInt8]

    public init(stream: Stream, request: HTTPRequest, parameters: HTTPRouteParameters, leftover: [UInt8]) {
        self.stream = stream
        self.request = request
        self.parameters = parameters
        self.leftover = leftover
    }
}
