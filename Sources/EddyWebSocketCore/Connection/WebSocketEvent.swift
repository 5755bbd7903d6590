/// Something the peer did, for the application.
///
/// Guarantees: `.text` is valid UTF-8 (validated incrementally, RFC 6455 §8.1);
/// messages are complete (reassembled and decompressed); `.ping` was already answered
/// with a pong when the connection was open; `.closed` is the last event and is
/// emitted exactly once.
public enum WebSocketEvent: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case closed(WebSocketCloseStatus)
}

/// A data message that arrived whole in one frame, lent by
/// `WebSocketProtocol.receiveData(_:from:)` instead of copied into an event.
///
/// Guarantees: `opcode` is `.text` or `.binary`; `payload` is the range of the input
/// buffer that holds the message's payload, unmasked, and, for text, valid UTF-8.
public struct WebSocketLentMessage: Sendable, Equatable {
    public let opcode: WebSocketOpcode
    public let payload: Range<Int>
}
