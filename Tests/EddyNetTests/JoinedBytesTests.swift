import EddyNet
import Testing

/// A header and payload joined into one buffer (a new one, or a cork appended to) hold
/// exactly the header's bytes then the payload's, whatever their sizes and the room left.
@Suite("Joined bytes")
struct JoinedBytesTests {
    static func bytes(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ seed) }
    }

    @Test func joiningMatchesConcatenationForEverySizeAndStartingPoint() {
        for headerCount in [0, 1, 2, 4, 10, 14] {
            for payloadCount in [0, 1, 3, 15, 16, 17, 31, 32, 33, 64, 300, 20_000] {
                let header = Self.bytes(headerCount, seed: 1), payload = Self.bytes(payloadCount, seed: 2)
                #expect([UInt8](joining: header.span.bytes, payload.span.bytes) == header + payload)
                // Appended to bytes already there: with spare room, and with none (it grows).
                for existing in [0, 5, 255] {
                    var roomy = Self.bytes(existing, seed: 3)
                    roomy.reserveCapacity(existing + headerCount + payloadCount + 100)
                    var tight = Self.bytes(existing, seed: 3)
                    roomy.append(joining: header.span.bytes, payload.span.bytes)
                    tight.append(joining: header.span.bytes, payload.span.bytes)
                    #expect(roomy == Self.bytes(existing, seed: 3) + header + payload)
                    #expect(tight == roomy)
                }
            }
        }
    }

    @Test func anAppendToASharedArrayLeavesTheOtherCopyAlone() {
        let original = Self.bytes(8, seed: 4)
        var cork = original
        let header: [UInt8] = [0x82, 2], payload: [UInt8] = [7, 7]
        cork.append(joining: header.span.bytes, payload.span.bytes)
        #expect(original == Self.bytes(8, seed: 4))
        #expect(cork == original + [0x82, 2, 7, 7])
    }

    @Test func repeatedAppendsGrowByDoubling() {
        var cork: [UInt8] = []
        var capacities: Set<Int> = []
        for round in 0..<10_000 {
            let header: [UInt8] = [0x82, 1], payload = [UInt8(truncatingIfNeeded: round)]
            cork.append(joining: header.span.bytes, payload.span.bytes)
            capacities.insert(cork.capacity)
        }
        #expect(cork.count == 30_000)
        #expect(capacities.count < 20, "\(capacities.count) capacities: the storage grew by doubling, not per append")
    }
}
