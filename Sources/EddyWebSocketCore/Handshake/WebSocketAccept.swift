import COpenSSL

/// The `Sec-WebSocket-Accept` computation (RFC 6455 §4.2.2 step 5.4) and the base64
/// helpers the handshake needs.
public enum WebSocketAccept {
    /// The GUID appended to the key (RFC 6455 §1.3).
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// base64(SHA-1(key + GUID)). For the RFC's example key
    /// `dGhlIHNhbXBsZSBub25jZQ==` this is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
    /// Returns nil only if OpenSSL's digest fails.
    public static func acceptValue(forKey key: String) -> String? {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        let ok = input.withUnsafeBytes { inputRaw in
            digest.withUnsafeMutableBytes { digestRaw -> Int32 in
                // unsafe boundary: OpenSSL reads `input.count` bytes and writes 20.
                guard let out = digestRaw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
                return eddy_sha1(inputRaw.baseAddress, inputRaw.count, out)
            }
        }
        guard ok == 1 else { return nil }
        return Base64.encode(digest)
    }

    /// Computes one accept value now, so that OpenSSL initialises its SHA-1 (OpenSSL 3
    /// loads its providers at the first digest: about 2 MB of library pages and a few
    /// milliseconds) before the first handshake rather than during it. A server calls this
    /// when it starts; idempotent, and free after the first call.
    public static func prepare() {
        _ = prepared
    }

    private static let prepared: Bool = acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") != nil

    /// A fresh client key: base64 of 16 bytes from OpenSSL's `RAND_bytes` (§4.1).
    public static func generateKey() -> String? {
        guard let bytes = secureRandomBytes(count: 16) else { return nil }
        return Base64.encode(bytes)
    }

    /// Whether `key` is base64 (with padding) of exactly 16 bytes (§4.2.1 item 5).
    public static func isValidKey(_ key: String) -> Bool {
        key.utf8.count == 24 && Base64.decode(key)?.count == 16
    }
}

/// Standard base64 with padding (RFC 4648 §4).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(value >> 18 & 63)]); out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)]); out.append(alphabet[Int(value & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(value >> 18 & 63)]); out.append(alphabet[Int(value >> 12 & 63)])
            out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(value >> 18 & 63)]); out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)]); out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict decoding: length a multiple of 4, padding only at the end, and the
    /// unused bits of the last character zero. nil otherwise.
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var index = 0
        while index < chars.count {
            let isLast = index + 4 == chars.count
            var values: [UInt32] = []
            var padding = 0
            for offset in 0..<4 {
                let c = chars[index + offset]
                if c == UInt8(ascii: "=") {
                    guard isLast, offset >= 2 else { return nil }
                    padding += 1
                    values.append(0)
                    continue
                }
                guard padding == 0, let v = value(of: c) else { return nil }
                values.append(v)
            }
            let combined = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
            out.append(UInt8(combined >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(combined >> 8 & 0xFF)) } else if combined & 0xFFFF != 0 { return nil }
            if padding < 1 { out.append(UInt8(combined & 0xFF)) } else if combined & 0xFF != 0 { return nil }
            index += 4
        }
        return out
    }

    private static func value(of c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
