import COpenSSL

/// A 32-bit frame masking key (RFC 6455 §5.3).
///
/// Guarantees: `apply(to:payloadOffset:)` XORs exactly as §5.3 defines
/// (`octet i ^= key[i mod 4]`), eight bytes per step through unaligned loads and
/// stores, and is its own inverse. `payloadOffset` lets a payload that arrives in
/// pieces be unmasked piece by piece.
public struct WebSocketMaskingKey: Sendable, Hashable {
    public let bytes: (UInt8, UInt8, UInt8, UInt8)

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        bytes = (b0, b1, b2, b3)
    }

    /// A key from exactly four bytes; nil otherwise.
    public init?(_ array: [UInt8]) {
        guard array.count == 4 else { return nil }
        self.init(array[0], array[1], array[2], array[3])
    }

    public static func == (lhs: WebSocketMaskingKey, rhs: WebSocketMaskingKey) -> Bool {
        lhs.bytes.0 == rhs.bytes.0 && lhs.bytes.1 == rhs.bytes.1 && lhs.bytes.2 == rhs.bytes.2 && lhs.bytes.3 == rhs.bytes.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0); hasher.combine(bytes.1); hasher.combine(bytes.2); hasher.combine(bytes.3)
    }

    public var array: [UInt8] { [bytes.0, bytes.1, bytes.2, bytes.3] }

    @inline(__always)
    func byte(at index: Int) -> UInt8 {
        switch index & 3 {
        case 0: return bytes.0
        case 1: return bytes.1
        case 2: return bytes.2
        default: return bytes.3
        }
    }

    /// A key from OpenSSL's CSPRNG (RFC 6455 §5.3 requires unpredictable keys).
    /// Returns nil only if OpenSSL's generator fails.
    public static func random() -> WebSocketMaskingKey? {
        guard let bytes = secureRandomBytes(count: 4) else { return nil }
        return WebSocketMaskingKey(bytes)
    }

    /// Masks or unmasks `buffer` in place. `payloadOffset` is the position of
    /// `buffer`'s first byte within the frame payload.
    public func apply(to buffer: UnsafeMutableRawBufferPointer, payloadOffset: Int = 0) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        // The 8-byte pattern as it lies in memory, rotated to the payload offset: the key as
        // a little-endian number (byte 0 lowest), rotated right by the offset's bytes, twice,
        // stored little-endian. So the word loop is independent of endianness.
        let key = UInt32(bytes.0) | UInt32(bytes.1) << 8 | UInt32(bytes.2) << 16 | UInt32(bytes.3) << 24
        let shift = UInt32(payloadOffset & 3) * 8
        let rotated = shift == 0 ? key : (key >> shift) | (key << (32 - shift))
        let pattern = (UInt64(rotated) | UInt64(rotated) << 32).littleEndian
        var index = 0
        // unsafe: unaligned 8-byte loads/stores inside `buffer`'s bounds
        // (index + 8 <= count).
        while index + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            base.storeBytes(of: word ^ pattern, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            let value = base.load(fromByteOffset: index, as: UInt8.self) ^ byte(at: payloadOffset + index)
            base.storeBytes(of: value, toByteOffset: index, as: UInt8.self)
            index += 1
        }
    }

    /// Masks or unmasks `bytes[range]` in place.
    public func apply(to bytes: inout [UInt8], range: Range<Int>, payloadOffset: Int = 0) {
        bytes.withUnsafeMutableBytes { raw in
            apply(to: UnsafeMutableRawBufferPointer(rebasing: raw[range]), payloadOffset: payloadOffset)
        }
    }
}

/// `count` bytes from OpenSSL's `RAND_bytes`, or nil if the generator fails.
func secureRandomBytes(count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    let result = bytes.withUnsafeMutableBytes { raw -> Int32 in
        // unsafe: OpenSSL writes exactly `count` bytes into our buffer.
        guard let base = raw.baseAddress else { return 1 }
        return RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(count))
    }
    return result == 1 ? bytes : nil
}
