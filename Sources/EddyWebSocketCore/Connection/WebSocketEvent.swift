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
