import Testing
@testable import EddyWebSocketCore

/// The handshake's own SHA-1, against FIPS 180 examples and digests computed elsewhere
/// (Python `hashlib`) for lengths around the 64-byte block and its 56-byte padding edge.
@Suite("SHA-1 for Sec-WebSocket-Accept")
struct SHA1Tests {
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }

    @Test func fipsExamples() {
        #expect(hex(SHA1.digest([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(SHA1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(SHA1.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test(arguments: [
        (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"), (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
        (63, "6d942da0c4392b123528f2905c713a3ce28364bd"), (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
        (65, "69bd728ad6e13cd76ff19751fde427b00e395746"), (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
        (128, "e6434bc401f98603d7eda504790c98c67385d535"), (1000, "c9c960a0b925474fab83942cc27d504fc24ac37b"),
    ])
    func blockEdges(length: Int, expected: String) {
        let input = (0..<length).map { UInt8($0 % 251) }
        #expect(hex(SHA1.digest(input)) == expected)
    }
}
