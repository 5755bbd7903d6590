/// Per-message compression and decompression for one connection (RFC 7692 §7.2),
/// with the zlib streams created lazily.
///
/// - Compression: the whole message is deflated with Z_SYNC_FLUSH and the trailing
///   `00 00 ff ff` removed (§7.2.1); the caller sets RSV1 on the first frame only.
///   Messages shorter than the threshold are not compressed. The compressor is reset
///   after each message when this side has no context takeover.
/// - Decompression: frame payloads are inflated as they complete and the `00 00 ff ff`
///   tail is inflated at the end of the message (§7.2.2); output is capped at the
///   caller's limit while inflating, so a decompression bomb costs at most the limit.
///   The decompressor is reset after each message when the peer has no context
///   takeover.
///
/// Memory: nothing until the first compressed message in a direction; then one
/// compressor (`(1 << (w + 2)) + (1 << (memLevel + 9))` + ~6 KiB) and/or one
/// decompressor (`1 << w` + ~7 KiB). `releaseIdleStreams()` frees streams that hold no
/// context worth keeping (no context takeover), e.g. for idle connections.
///
/// - Important: noncopyable because it owns zlib streams; one codec per connection.
public struct PerMessageDeflateCodec: ~Copyable, Sendable {
    /// zlib settings derived from the agreement.
    public struct Settings: Sendable, Equatable {
        public var compressWindowBits: Int
        public var compressNoContextTakeover: Bool
        public var decompressWindowBits: Int
        public var decompressNoContextTakeover: Bool
        public var compressionLevel: Int
        public var memLevel: Int
        public var compressionThreshold: Int

        /// Settings for `role` from the negotiated `parameters` and local configuration.
        public init(parameters: PerMessageDeflateParameters, role: WebSocketRole, configuration: PerMessageDeflateConfiguration) {
            let localBits: Int?, remoteBits: Int?
            switch role {
            case .server:
                localBits = parameters.serverMaxWindowBits
                remoteBits = parameters.clientMaxWindowBits
                compressNoContextTakeover = parameters.serverNoContextTakeover
                decompressNoContextTakeover = parameters.clientNoContextTakeover
            case .client:
                localBits = parameters.clientMaxWindowBits
                remoteBits = parameters.serverMaxWindowBits
                compressNoContextTakeover = parameters.clientNoContextTakeover
                decompressNoContextTakeover = parameters.serverNoContextTakeover
            }
            // zlib cannot deflate raw with 8; its 9 never reaches back more than 250
            // bytes, so it also satisfies an agreed 8 (see PerMessageDeflateNegotiation).
            compressWindowBits = min(max(localBits ?? 15, 9), configuration.maxWindowBits)
            // Any window at least as large as the sender's decodes its stream; 8 → 9.
            decompressWindowBits = min(max(remoteBits ?? 15, 9), 15)
            compressionLevel = configuration.compressionLevel
            memLevel = configuration.memLevel
            compressionThreshold = configuration.compressionThreshold
        }
    }

    /// Result of feeding compressed bytes.
    public enum DecompressionOutcome: Sendable, Equatable {
        case ok
        /// The message would exceed the limit (1009).
        case tooLarge
        /// The data is not valid deflate (1007).
        case invalid
    }

    public let settings: Settings
    private var compressor: ZlibDeflateStream?
    private var decompressor: ZlibInflateStream?
    /// A compressor shared with other connections on the same thread, used instead of an
    /// own one when this side has no context takeover (it is reset after every message,
    /// so it carries nothing from one connection to the next).
    private var sharedCompressor: ZlibDeflateStream?

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Whether a message of `count` bytes should be compressed.
    public func shouldCompress(count: Int) -> Bool { count >= settings.compressionThreshold }

    /// Bytes zlib holds for this connection right now, measured by a counting
    /// allocator (0 while no stream exists).
    public var allocatedBytes: Int {
        (compressor?.allocatedBytes ?? 0) + (decompressor?.allocatedBytes ?? 0)
    }

    /// Uses `stream` (made with `settings`' window, memLevel and level, and confined to
    /// the calling thread like this codec) instead of an own compressor, when this side
    /// has no context takeover. Ignored otherwise.
    mutating func shareCompressor(_ stream: ZlibDeflateStream) {
        guard settings.compressNoContextTakeover else { return }
        sharedCompressor = stream
        compressor = nil
    }

    /// Compresses one whole message; nil if zlib fails (out of memory).
    public mutating func compress(_ message: UnsafeRawBufferPointer) -> [UInt8]? {
        if sharedCompressor == nil && compressor == nil {
            compressor = ZlibDeflateStream(
                level: Int32(settings.compressionLevel), windowBits: settings.compressWindowBits, memLevel: settings.memLevel)
        }
        // A shared compressor is only set without context takeover, so it is reset too.
        guard let stream = sharedCompressor ?? compressor else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(message.count / 2 + 64)
        let compressed = stream.compressMessage(message, into: &out)
        if settings.compressNoContextTakeover { stream.reset() }
        return compressed ? out : nil
    }

    public mutating func compress(_ message: [UInt8]) -> [UInt8]? {
        message.withUnsafeBytes { compress($0) }
    }

    /// Inflates one frame's payload of a compressed message, appending to `message`
    /// while keeping `message.count <= limit`.
    public mutating func decompress(_ payload: UnsafeRawBufferPointer, into message: inout [UInt8], limit: Int) -> DecompressionOutcome {
        if payload.isEmpty { return .ok }
        if decompressor == nil { decompressor = ZlibInflateStream(windowBits: settings.decompressWindowBits) }
        guard let decompressor else { return .invalid }
        switch decompressor.inflate(payload, into: &message, limit: max(0, limit - message.count)) {
        case .ok: return .ok
        case .tooLarge: return .tooLarge
        case .invalid: return .invalid
        }
    }

    /// Ends a compressed message: inflates the `00 00 ff ff` tail and resets the
    /// decompressor if the peer has no context takeover.
    public mutating func finishMessage(into message: inout [UInt8], limit: Int) -> DecompressionOutcome {
        let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
        let outcome = tail.withUnsafeBytes { decompress($0, into: &message, limit: limit) }
        if settings.decompressNoContextTakeover { decompressor?.reset() }
        return outcome
    }

    /// Frees zlib streams that carry no context between messages (the directions with
    /// no context takeover). Streams with context takeover are kept: freeing them would
    /// break the next message.
    public mutating func releaseIdleStreams() {
        if settings.compressNoContextTakeover { compressor = nil }
        if settings.decompressNoContextTakeover { decompressor = nil }
    }
}
