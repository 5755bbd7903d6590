/// A frame opcode (RFC 6455 §5.2). The reserved opcodes 3–7 and B–F are not
/// representable: the decoder rejects them with 1002 before building a header.
public enum WebSocketOpcode: UInt8, Sendable, Hashable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    public var isControl: Bool { rawValue & 0x8 != 0 }

    /// The opcode for the low four bits of a frame's first byte; nil for a reserved one.
    /// `init(rawValue:)` does the same, but is not inlined for this sparse set of values,
    /// and the decoder asks once per frame.
    @inline(__always)
    init?(wire: UInt8) {
        switch wire {
        case 0x0: self = .continuation
        case 0x1: self = .text
        case 0x2: self = .binary
        case 0x8: self = .close
        case 0x9: self = .ping
        case 0xA: self = .pong
        default: return nil
        }
    }
}
