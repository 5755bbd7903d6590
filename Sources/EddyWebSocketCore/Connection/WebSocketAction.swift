/// Something the I/O layer must do, in order.
public enum WebSocketAction: Sendable, Equatable {
    /// Write these bytes (consecutive writes are already coalesced).
    case write([UInt8])
    /// Start (or restart) the close timer; when it fires call `closeTimerExpired()`.
    case armCloseTimer(Duration)
    /// Close the TCP connection once earlier writes are flushed. A server closes first
    /// after the closing handshake (RFC 6455 §7.1.1).
    case closeTransport
}

/// The externally visible state (RFC 6455 §4.1 / §7: OPEN, CLOSING, CLOSED).
public enum WebSocketConnectionState: Sendable, Equatable {
    case open
    /// Eddy sent Close and waits for the peer's.
    case closing
    /// Both Close frames were exchanged or the connection failed; only transport
    /// teardown remains.
    case closed
}
