/// A frame header as read from or written to the wire (RFC 6455 §5.2).
///
/// Guarantees (for headers produced by `WebSocketFrameDecoder`): the opcode is not
/// reserved; RSV2/RSV3 are clear; RSV1 is set only on the first frame of a message
/// when permessage-deflate was negotiated; control frames are final and ≤ 125 bytes;
/// the masking key is present exactly when the role requires it; `payloadLength` fits
/// the configured limits.
public struct WebSocketFrameHeader: Sendable, Equatable {
    public var fin: Bool
    public var rsv1: Bool
    public var rsv2: Bool
    public var rsv3: Bool
    public var opcode: WebSocketOpcode
    public var maskingKey: WebSocketMaskingKey?
    public var payloadLength: Int

    public init(fin: Bool, rsv1: Bool = false, rsv2: Bool = false, rsv3: Bool = false,
                opcode: WebSocketOpcode, maskingKey: WebSocketMaskingKey? = nil, payloadLength: Int) {
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.opcode = opcode
        self.maskingKey = maskingKey
        self.payloadLength = payloadLength
    }
}

/// A whole frame with its (unmasked) payload.
///
/// Guarantees: `payload` is unmasked; a frame from `WebSocketFrameDecoder.decodeFrames`
/// obeys the header guarantees of `WebSocketFrameHeader`.
public struct WebSocketFrame: Sendable, Equatable {
    public var fin: Bool
    public var rsv1: Bool
    public var opcode: WebSocketOpcode
    public var payload: [UInt8]

    public init(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, payload: [UInt8]) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }
}
