/// permessage-deflate settings for one endpoint (RFC 7692).
///
/// Defaults and their cost (zlib's formulas; the `memoryPerConnection` test measures
/// 49,976 bytes for these defaults against 308,024 for zlib's 15/8):
/// - `maxWindowBits = 12` (4 KiB history) and `memLevel = 5`: the compressor costs
///   `(1 << 14) + (1 << 14)` ≈ 32 KiB + ~6 KiB state, against ~262 KiB for zlib's
///   15/8. Dashboard/JSON event streams repeat field names within a few hundred bytes,
///   so a 4 KiB window keeps most of the ratio at an eighth of the memory.
/// - `requestedPeerWindowBits = 12`: when the peer allows it (the client offered
///   `client_max_window_bits`), Eddy's server asks it to use a 4 KiB window too, so
///   the decompressor costs ~11 KiB instead of ~39 KiB. A peer that does not allow it
///   costs the full 32 KiB window.
/// - `noContextTakeover`: false here, true in `.server` (what servers use by default).
///   With it, this side resets its compressor after every message (a server says
///   `server_no_context_takeover` in every answer, which RFC 7692 §7.1.1.1 allows even
///   when the client did not ask). Such a compressor carries nothing between messages,
///   so a `WebSocket` uses one shared by all its loop's connections
///   (`SharedCompressorPool`) and holds none of its own. Each message is then compressed
///   on its own: JSON of a few hundred bytes and up still shrinks well, but repeats
///   across messages are not exploited; that is worth ≈ 38 KiB per connection.
/// - So a connection with deflate costs ≈ 49 KiB of zlib memory once it has sent and
///   received a compressed message, ≈ 11 KiB (its decompressor) with
///   `noContextTakeover`, and 0 before (streams are created lazily).
/// - `compressionThreshold = 128`: shorter messages are sent uncompressed (RSV1
///   clear); deflate's framing overhead makes tiny messages bigger.
/// - `compressionLevel = 6` (zlib default): level changes CPU, not memory.
///
/// Guarantees: window bits are clamped to 9...15 (zlib's raw deflate cannot use 8, so
/// Eddy never asks a peer for 8); memLevel to 1...9; level to 0...9.
public struct PerMessageDeflateConfiguration: Sendable, Equatable {
    /// Offer (client) / accept (server) permessage-deflate at all.
    public var isEnabled: Bool
    /// Largest LZ77 window this endpoint compresses with.
    public var maxWindowBits: Int {
        didSet { maxWindowBits = Self.clampWindow(maxWindowBits) }
    }
    /// Window size to ask the peer's compressor to stay under, when the peer allows it.
    public var requestedPeerWindowBits: Int {
        didSet { requestedPeerWindowBits = Self.clampWindow(requestedPeerWindowBits) }
    }
    /// Reset this endpoint's compressor after every message: the connection then shares
    /// its loop's compressor instead of holding one, and a broadcast can be compressed
    /// once per parameter class. Default false; true in `.server`.
    public var noContextTakeover: Bool
    /// Ask the peer to reset its compressor after every message.
    public var requestPeerNoContextTakeover: Bool
    public var compressionThreshold: Int
    public var compressionLevel: Int
    public var memLevel: Int
    /// A client's offer: `client_max_window_bits` with no value (the default: the server
    /// picks any window, and this client still compresses with at most `maxWindowBits`,
    /// which the limit allows), or with `maxWindowBits` as its value (a server must then not
    /// answer more, or the handshake fails, RFC 7692 §7.1.2.2). Python `websockets` and Node
    /// `ws` offer it without a value; some servers (Autobahn's) answer 15 to any offer.
    public var offersWindowBitsValue = false

    public init(
        isEnabled: Bool = true,
        maxWindowBits: Int = 12,
        requestedPeerWindowBits: Int = 12,
        noContextTakeover: Bool = false,
        requestPeerNoContextTakeover: Bool = false,
        compressionThreshold: Int = 128,
        compressionLevel: Int = 6,
        memLevel: Int = 5
    ) {
        self.isEnabled = isEnabled
        self.maxWindowBits = Self.clampWindow(maxWindowBits)
        self.requestedPeerWindowBits = Self.clampWindow(requestedPeerWindowBits)
        self.noContextTakeover = noContextTakeover
        self.requestPeerNoContextTakeover = requestPeerNoContextTakeover
        self.compressionThreshold = max(0, compressionThreshold)
        self.compressionLevel = min(max(compressionLevel, 0), 9)
        self.memLevel = min(max(memLevel, 1), 9)
    }

    /// The server default: Eddy's defaults plus `noContextTakeover`, so that connections
    /// share their loop's compressor (see above).
    public static let server = PerMessageDeflateConfiguration(noContextTakeover: true)

    /// permessage-deflate switched off.
    public static let disabled = PerMessageDeflateConfiguration(isEnabled: false)

    static func clampWindow(_ bits: Int) -> Int { min(max(bits, 9), 15) }
}

/// The permessage-deflate parameters both ends agreed on (RFC 7692 §7.1), as they
/// appear in the server's response.
///
/// Guarantees: window bit values, when present, are 8...15 (8 only when the peer
/// asked for it; Eddy then compresses with zlib's 9, whose matches stay within 250
/// bytes).
public struct PerMessageDeflateParameters: Sendable, Hashable {
    public var serverNoContextTakeover: Bool
    public var clientNoContextTakeover: Bool
    public var serverMaxWindowBits: Int?
    public var clientMaxWindowBits: Int?

    public init(
        serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false,
        serverMaxWindowBits: Int? = nil, clientMaxWindowBits: Int? = nil
    ) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
    }

    /// The `Sec-WebSocket-Extensions` element for the response.
    public var headerValue: String {
        var parameters: [WebSocketExtensionParameter] = []
        if serverNoContextTakeover { parameters.append(.init(name: "server_no_context_takeover")) }
        if clientNoContextTakeover { parameters.append(.init(name: "client_no_context_takeover")) }
        if let bits = serverMaxWindowBits { parameters.append(.init(name: "server_max_window_bits", value: String(bits))) }
        if let bits = clientMaxWindowBits { parameters.append(.init(name: "client_max_window_bits", value: String(bits))) }
        return WebSocketExtensionOffer(name: "permessage-deflate", parameters: parameters).headerValue
    }
}
