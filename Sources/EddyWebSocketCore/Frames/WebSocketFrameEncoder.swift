/// Writes frames (RFC 6455 §5.2): the header with the shortest length encoding, then
/// the payload, masked when a key is given (client role, §5.3).
///
/// Guarantees: 7-bit lengths for 0–125, 16-bit for 126–65535, 64-bit above (always
/// minimal, top bit clear); appends to the caller's buffer so several frames can be
/// corked into one write.
public enum WebSocketFrameEncoder {
    /// Appends the header for a frame.
    public static func appendHeader(
        _ header: WebSocketFrameHeader, to out: inout [UInt8]
    ) {
        var first: UInt8 = header.opcode.rawValue
        if header.fin { first |= 0x80 }
        if header.rsv1 { first |= 0x40 }
        if header.rsv2 { first |= 0x20 }
        if header.rsv3 { first |= 0x10 }
        out.append(first)
        let maskBit: UInt8 = header.maskingKey == nil ? 0 : 0x80
        let length = header.payloadLength
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(length >> 8))
            out.append(UInt8(length & 0xFF))
        } else {
            out.append(maskBit | 127)
            let value = UInt64(length)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((value >> UInt64(shift)) & 0xFF)) }
        }
        if let key = header.maskingKey {
            out.append(key.bytes.0); out.append(key.bytes.1); out.append(key.bytes.2); out.append(key.bytes.3)
        }
    }

    /// Appends a whole frame. The payload is copied once and masked in place in `out`.
    public static func append(
        opcode: WebSocketOpcode, fin: Bool = true, rsv1: Bool = false,
        payload: UnsafeRawBufferPointer, maskingKey: WebSocketMaskingKey?, to out: inout [UInt8]
    ) {
        let header = WebSocketFrameHeader(fin: fin, rsv1: rsv1, opcode: opcode, maskingKey: maskingKey, payloadLength: payload.count)
        out.reserveCapacity(out.count + payload.count + 14)
        appendHeader(header, to: &out)
        let start = out.count
        out.append(contentsOf: payload)
        if let maskingKey {
            maskingKey.apply(to: &out, range: start..<out.count)
        }
    }

    public static func append(
        opcode: WebSocketOpcode, fin: Bool = true, rsv1: Bool = false,
        payload: [UInt8], maskingKey: WebSocketMaskingKey?, to out: inout [UInt8]
    ) {
        payload.withUnsafeBytes { append(opcode: opcode, fin: fin, rsv1: rsv1, payload: $0, maskingKey: maskingKey, to: &out) }
    }

    /// The bytes of one frame.
    public static func encode(_ frame: WebSocketFrame, maskingKey: WebSocketMaskingKey? = nil) -> [UInt8] {
        var out: [UInt8] = []
        append(opcode: frame.opcode, fin: frame.fin, rsv1: frame.rsv1, payload: frame.payload, maskingKey: maskingKey, to: &out)
        return out
    }
}
