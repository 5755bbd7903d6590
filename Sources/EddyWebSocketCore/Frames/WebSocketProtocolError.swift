/// A violation by the peer (or a limit it exceeded) that fails the WebSocket
/// connection (RFC 6455 §7.1.7), with the close code Eddy sends.
///
/// Guarantees: `closeCode` is 1002 (protocol error), 1007 (invalid payload data) or
/// 1009 (too big); `description` names the rule without echoing peer data, so it is
/// safe to log and to send as a close reason.
public struct WebSocketProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        // 1002 — RFC 6455 §5.2, §5.4, §5.5
        case reservedBitsSet
        case reservedOpcode(UInt8)
        case fragmentedControlFrame
        case controlFrameTooLong
        case unmaskedClientFrame
        case maskedServerFrame
        case nonMinimalLength
        case lengthTopBitSet
        case unexpectedContinuation
        case expectedContinuation
        case closePayloadTooShort
        case invalidCloseCode(UInt16)
        case unexpectedEOF
        // 1007 — RFC 6455 §8.1, RFC 7692 §6.2
        case invalidUTF8
        case invalidCompressedData
        // 1009 — limits
        case frameTooLarge(limit: Int)
        case messageTooLarge(limit: Int)
        case tooManyFragments(limit: Int)
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    /// The code of the Close frame sent when failing the connection.
    public var closeCode: WebSocketCloseCode {
        switch kind {
        case .invalidUTF8, .invalidCompressedData: return .invalidFramePayloadData
        case .frameTooLarge, .messageTooLarge, .tooManyFragments: return .messageTooBig
        default: return .protocolError
        }
    }

    public var description: String {
        switch kind {
        case .reservedBitsSet: return "reserved bits set without a negotiated extension"
        case .reservedOpcode(let op): return "reserved opcode \(op)"
        case .fragmentedControlFrame: return "fragmented control frame"
        case .controlFrameTooLong: return "control frame payload over 125 bytes"
        case .unmaskedClientFrame: return "client frame not masked"
        case .maskedServerFrame: return "server frame masked"
        case .nonMinimalLength: return "payload length not minimally encoded"
        case .lengthTopBitSet: return "64-bit payload length with the top bit set"
        case .unexpectedContinuation: return "continuation frame without a message in progress"
        case .expectedContinuation: return "new data frame inside a fragmented message"
        case .closePayloadTooShort: return "close payload of one byte"
        case .invalidCloseCode(let code): return "invalid close code \(code)"
        case .unexpectedEOF: return "connection closed without a close frame"
        case .invalidUTF8: return "invalid UTF-8 in text message"
        case .invalidCompressedData: return "invalid compressed data"
        case .frameTooLarge(let limit): return "frame larger than \(limit) bytes"
        case .messageTooLarge(let limit): return "message larger than \(limit) bytes"
        case .tooManyFragments(let limit): return "message with more than \(limit) fragments"
        }
    }
}

/// A misuse of the API by the application (not by the peer), thrown by commands such
/// as `sendText` after the connection started closing, or `sendClose` with a code that
/// may not be sent.
public struct WebSocketUsageError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case notOpen
        case invalidCloseCode(UInt16)
        case controlPayloadTooLong
        case noMessageInProgress
        case messageInProgress
        case invalidUTF8Text
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    /// Bytes given as a text message are not valid UTF-8 (RFC 6455 §5.6); nothing was sent.
    public static let invalidUTF8Text = WebSocketUsageError(.invalidUTF8Text)

    public var description: String {
        switch kind {
        case .notOpen: return "the connection is not open"
        case .invalidCloseCode(let code): return "close code \(code) may not be sent"
        case .controlPayloadTooLong: return "control frame payload over 125 bytes"
        case .noMessageInProgress: return "no fragmented message in progress"
        case .messageInProgress: return "a fragmented message is in progress"
        case .invalidUTF8Text: return "a text message must be valid UTF-8"
        }
    }
}
