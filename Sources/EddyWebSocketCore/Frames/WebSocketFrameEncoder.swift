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
        // Built in a local, then appended at once: one capacity and uniqueness check per
        // header instead of one per byte.
        var bytes: (UInt64, UInt64) = (0, 0)
        let count = withUnsafeMutableBytes(of: &bytes) { writeHeader(header, to: $0) }
        withUnsafeBytes(of: &bytes) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Calls `body` with the encoded `header` (at most 14 bytes, on the stack: nothing is
    /// allocated), for a driver that writes a frame's header and payload to its transport
    /// itself.
    @inlinable @inline(__always)
    public static func withHeader<Result, Failure: Error>(
        _ header: WebSocketFrameHeader, _ body: (RawSpan) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var bytes: (UInt64, UInt64) = (0, 0)
        let count = withUnsafeMutableBytes(of: &bytes) { writeHeader(header, to: $0) }
        // unsafe boundary: the span covers the `count` (≤ 14) bytes written into the local
        // above and does not outlive this call.
        return try withUnsafeBytes(of: &bytes) { raw throws(Failure) in
            try body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: raw[0..<count])))
        }
    }

    /// Writes `header` at the start of `raw` (at least 14 bytes); returns its length.
    @inlinable @inline(__always)
    static func writeHeader(_ header: WebSocketFrameHeader, to raw: UnsafeMutableRawBufferPointer) -> Int {
        var first: UInt8 = header.opcode.rawValue
        if header.fin { first |= 0x80 }
        if header.rsv1 { first |= 0x40 }
        if header.rsv2 { first |= 0x20 }
        if header.rsv3 { first |= 0x10 }
        raw[0] = first
        let maskBit: UInt8 = header.maskingKey == nil ? 0 : 0x80
        let length = header.payloadLength
        var count: Int
        if length < 126 {
            raw[1] = maskBit | UInt8(length)
            count = 2
        } else if length <= 0xFFFF {
            raw[1] = maskBit | 126
            raw[2] = UInt8(length >> 8)
            raw[3] = UInt8(length & 0xFF)
            count = 4
        } else {
            raw[1] = maskBit | 127
            let value = UInt64(length)
            for i in 0..<8 { raw[2 + i] = UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * i)) }
            count = 10
        }
        if let key = header.maskingKey {
            raw[count] = key.bytes.0; raw[count + 1] = key.bytes.1; raw[count + 2] = key.bytes.2; raw[count + 3] = key.bytes.3
            count += 4
        }
        return count
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
