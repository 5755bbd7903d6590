import EddyMetrics
import EddyWebSocketCore
import EddyShared

/// A message framed once for many server-side connections (a room broadcast).
///
/// It holds the uncompressed server frame, which every connection may receive (RFC 7692
/// lets a sender leave any message uncompressed, RSV1 clear), and, when a
/// `BroadcastCompressor` made one, a compressed frame produced without context takeover,
/// which any connection that negotiated `server_no_context_takeover` with a window at
/// least as large can decode. Both are shared byte arrays: members copy nothing.
public struct PreparedMessage: Sendable {
    /// The server frame with the payload as is.
    public let uncompressed: [UInt8]
    /// The server frame with a deflated payload (RSV1 set), if the message was compressed.
    public let compressed: [UInt8]?
    /// The window the compressed payload was produced with.
    public let compressedWindowBits: Int

    /// Frames `message`, compressing it once with `compressor` when given and worthwhile.
    public init(_ message: WebSocketMessage, compressor: BroadcastCompressor? = nil) {
        switch message {
        case .text(let text): self.init(opcode: .text, payload: Array(text.utf8), compressor: compressor)
        case .binary(let bytes): self.init(opcode: .binary, payload: bytes, compressor: compressor)
        }
    }

    /// Frames a text message given as its UTF-8 bytes (already encoded, e.g. canonical JSON),
    /// with no `String` in between. The caller guarantees the bytes are valid UTF-8
    /// (RFC 6455 §5.6); they are not checked.
    public init(utf8Text payload: [UInt8], compressor: BroadcastCompressor? = nil) {
        self.init(opcode: .text, payload: payload, compressor: compressor)
    }

    private init(opcode: WebSocketOpcode, payload: [UInt8], compressor: BroadcastCompressor?) {
        var frame: [UInt8] = []
        WebSocketFrameEncoder.append(opcode: opcode, payload: payload, maskingKey: nil, to: &frame)
        uncompressed = frame
        if let compressor, let deflated = compressor.compress(payload) {
            var compressedFrame: [UInt8] = []
            WebSocketFrameEncoder.append(opcode: opcode, rsv1: true, payload: deflated, maskingKey: nil, to: &compressedFrame)
            compressed = compressedFrame
            compressedWindowBits = compressor.windowBits
        } else {
            compressed = nil
            compressedWindowBits = 0
        }
    }

    /// The frame `socket` should get.
    public func frame(for socket: WebSocket) -> [UInt8] {
        frame(forSharedWindowBits: socket.sharedCompressionWindowBits)
    }

    /// The frame for a connection whose `sharedCompressionWindowBits` is `bits` (read once
    /// and kept, for senders that fan one message out to many connections).
    public func frame(forSharedWindowBits bits: Int?) -> [UInt8] {
        if let compressed, let bits, bits >= compressedWindowBits {
            return compressed
        }
        return uncompressed
    }
}

/// Compresses broadcast payloads once, without context takeover, for every connection
/// that negotiated `server_no_context_takeover`. Thread-safe (one zlib stream under a
/// mutex), so publishers on any loop can share it.
public final class BroadcastCompressor: Sendable {
    public let windowBits: Int
    public let threshold: Int
    private let codec: Mutex<PerMessageDeflateCodec>

    /// - Parameter configuration: window, level, memLevel and threshold to use; the
    ///   window should not exceed what the endpoint negotiates.
    public init(configuration: PerMessageDeflateConfiguration = PerMessageDeflateConfiguration()) {
        let settings = PerMessageDeflateCodec.Settings(
            parameters: PerMessageDeflateParameters(serverNoContextTakeover: true, serverMaxWindowBits: configuration.maxWindowBits),
            role: .server, configuration: configuration)
        windowBits = settings.compressWindowBits
        threshold = configuration.compressionThreshold
        codec = Mutex(PerMessageDeflateCodec(settings: settings))
    }

    /// The deflated payload (tail stripped), or nil under the threshold or on failure.
    public func compress(_ payload: [UInt8]) -> [UInt8]? {
        guard payload.count >= threshold else { return nil }
        let deflated = codec.withLock { $0.compress(payload) }
        if let deflated {
            // Once per broadcast message, however many members share the frame; a publisher
            // may run off the loops (a DAG run's feed runs on the global executor).
            LoopTally.addFromAnyThread(.deflateInputBytes, payload.count)
            LoopTally.addFromAnyThread(.deflateOutputBytes, deflated.count)
        }
        return deflated
    }
}
