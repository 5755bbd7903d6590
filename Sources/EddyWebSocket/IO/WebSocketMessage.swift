import EddyWebSocketCore
/// A complete WebSocket data message.
public enum WebSocketMessage: Sendable, Equatable {
    /// A text message: valid UTF-8 (RFC 6455 §5.6).
    case text(String)
    /// A binary message.
    case binary([UInt8])
}

extension WebSocketMessage {
    /// A message with a copy of `bytes` (for `.text`, bytes already known to be valid UTF-8).
    init(copying bytes: UnsafeRawBufferPointer, as kind: WebSocketMessageKind) {
        switch kind {
        case .text: self = .text(String(decoding: bytes, as: UTF8.self))
        case .binary: self = .binary(Array(bytes))
        }
    }

    /// The protocol event that carries this message.
    var event: WebSocketEvent {
        switch self {
        case .text(let text): return .text(text)
        case .binary(let bytes): return .binary(bytes)
        }
    }
}

/// Which kind of data message a message's bytes are, for the calls that lend a message's
/// bytes instead of a `WebSocketMessage` (`WebSocketResponder.webSocket(_:didReceive:as:)`,
/// `WebSocket.sendWithoutWaiting(_:as:)`).
public enum WebSocketMessageKind: Sendable, Hashable {
    /// Text: the bytes are valid UTF-8.
    case text
    case binary
}

/// Thrown when a message is read or sent on a WebSocket that has closed, or when the
/// message sequence ends abnormally. Carries how the connection ended.
///
/// The message sequence ends without an error after a clean close with 1000 or 1001
/// (as Python `websockets` does); every other ending throws this.
public struct WebSocketClosedError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: WebSocketCloseStatus
    public init(status: WebSocketCloseStatus) { self.status = status }
    public var description: String {
        "WebSocket closed: \(status.code)\(status.reason.isEmpty ? "" : " \(status.reason)")\(status.wasClean ? "" : " (not clean)")"
    }
}

extension WebSocketCloseStatus {
    /// A clean close with 1000 (normal), 1001 (going away) or no status code at all (1005:
    /// an empty Close frame, which RFC 6455 allows and Python `websockets` also treats as a
    /// normal end). `messages` then simply ends; any other close ends it with an error.
    public var isNormal: Bool {
        wasClean && (code == .normalClosure || code == .goingAway || code == .noStatusReceived)
    }
}
