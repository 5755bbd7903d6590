/// Bounds applied by `HTTPRequestParser` and `HTTPResponseHeadParser`.
///
/// Every field has a default; each bound is checked as soon as the bytes that break it
/// arrive, so a peer can never make the parser buffer more than
/// `maxHeadBytes + maxBodyBytes` bytes per connection.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest request line (method, target, version, without CRLF). Default 4 KiB;
    /// a longer line is answered 414 (it is almost always the target that is long).
    public var maxRequestLineBytes: Int
    /// Largest head: request line, all header lines and the final empty line.
    /// Default 8 KiB (the figure nginx and Node use); larger is 431.
    public var maxHeadBytes: Int
    /// Most header fields. Default 100; more is 431.
    public var maxHeaderCount: Int
    /// Largest Content-Length body. Default 1 MiB; larger is 413 before any body byte
    /// is read.
    public var maxBodyBytes: Int

    public init(
        maxRequestLineBytes: Int = 4096,
        maxHeadBytes: Int = 8192,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 1 << 20
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}
