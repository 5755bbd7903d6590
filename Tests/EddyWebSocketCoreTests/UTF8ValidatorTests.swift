import EddyTestSupport
import Testing
@testable import EddyWebSocketCore

/// RFC 3629 §4 / RFC 6455 §8.1: validation, including fail-fast positions.
@Suite("UTF-8 validation")
struct UTF8ValidatorTests {
    @Test(arguments: [
        [],
        Array("plain ASCII that is longer than eight bytes".utf8),
        Array("κόσμε".utf8),
        Array("Hello-µ@ßöäüàá-UTF-8!!".utf8),
        [0xC2, 0x80], [0xDF, 0xBF],                  // 2-byte boundaries
        [0xE0, 0xA0, 0x80], [0xEF, 0xBF, 0xBF],      // 3-byte boundaries, U+FFFF
        [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],      // around the surrogates
        [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],  // U+10000, U+10FFFF
        [0xEF, 0xBB, 0xBF],                          // BOM is valid
    ] as [[UInt8]])
    func valid(_ bytes: [UInt8]) {
        #expect(UTF8Validator.isValid(bytes))
    }

    /// (bytes, index of the byte at which validation must fail; nil: only incomplete).
    @Test(arguments: [
        ([0x80], 0),                              // stray continuation
        ([0xBF], 0),
        ([0xC0, 0x80], 0),                        // overlong lead bytes
        ([0xC1, 0xBF], 0),
        ([0xE0, 0x80, 0x80], 1),                  // overlong 3-byte
        ([0xE0, 0x9F, 0xBF], 1),
        ([0xED, 0xA0, 0x80], 1),                  // U+D800
        ([0xED, 0xBF, 0xBF], 1),                  // U+DFFF
        ([0xF0, 0x80, 0x80, 0x80], 1),            // overlong 4-byte
        ([0xF0, 0x8F, 0xBF, 0xBF], 1),
        ([0xF4, 0x90, 0x80, 0x80], 1),            // U+110000
        ([0xF5, 0x80, 0x80, 0x80], 0),            // lead byte above F4
        ([0xFE], 0), ([0xFF], 0),
        ([0xC2, 0x41], 1),                        // missing continuation
        ([0xE2, 0x82, 0x41], 2),
        ([0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x80], 8),  // after an ASCII word
        // Autobahn 6.3.1: "κόσμε" then a surrogate (ED A0 80) then "edited": fails at A0.
        ([0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64], 12),
    ] as [([UInt8], Int)])
    func failsFastAtTheProvingByte(_ bytes: [UInt8], _ failIndex: Int) {
        var validator = UTF8Validator()
        for (index, byte) in bytes.enumerated() {
            let ok = validator.validate([byte])
            #expect(ok == (index < failIndex), "byte \(index)")
            if !ok { break }
        }
        #expect(!UTF8Validator.isValid(bytes))
    }

    @Test(arguments: [[0xC2], [0xE2, 0x82], [0xF0, 0x9F, 0x98]] as [[UInt8]])
    func truncatedSequenceIsIncompleteButNotFailed(_ bytes: [UInt8]) {
        var validator = UTF8Validator()
        let ok = validator.validate(bytes)
        #expect(ok)
        #expect(!validator.isComplete)
        #expect(!validator.hasFailed)
    }

    @Test func characterSplitAcrossChunks() {
        let text = Array("a€😀b".utf8)
        for split in 0...text.count {
            var validator = UTF8Validator()
            let first = validator.validate(Array(text[..<split]))
            let second = validator.validate(Array(text[split...]))
            #expect(first && second)
            #expect(validator.isComplete)
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomInput() {
        var rng = SplitMix64(seed: 2024)
        for _ in 0..<2000 {
            let length = Int(rng.next() % 12)
            // Bias towards interesting bytes.
            let bytes = (0..<length).map { _ -> UInt8 in
                let r = rng.next()
                switch r % 4 {
                case 0: return UInt8(truncatingIfNeeded: r >> 8) & 0x7F
                case 1: return 0x80 | UInt8(truncatingIfNeeded: r >> 8) & 0x3F
                default: return UInt8(truncatingIfNeeded: r >> 8)
                }
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            #expect(UTF8Validator.isValid(bytes) == expected, "\(bytes)")
        }
    }
}
