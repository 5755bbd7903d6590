@testable import EddyRooms
import EddyWebSocket
import Testing

/// `LoopLocalFrames`: a shard's members get copies of a message's frames that no other
/// loop's sockets reference, one per compression window.
@Suite("Rooms: loop-local frames")
struct LoopLocalFramesTests {
    static func address(_ bytes: [UInt8]) -> UnsafeRawPointer? {
        bytes.withUnsafeBytes { $0.baseAddress }
    }

    @Test func framesAreCopiesOfTheMessagesFramesMadeOncePerWindow() throws {
        let compressor = BroadcastCompressor()
        let payload = String(repeating: "a run's event, compressible ", count: 20)
        let messages = [PreparedMessage(.text(payload), compressor: compressor), PreparedMessage(.binary([1, 2, 3]))]
        let compressedBits = try #require(messages[0].compressed.map { _ in messages[0].compressedWindowBits })
        var frames = LoopLocalFrames(messages)

        let plain = frames.forSharedWindowBits(nil)
        #expect(plain == messages.map(\.uncompressed))
        for (copy, message) in zip(plain, messages) {
            #expect(Self.address(copy) != Self.address(message.uncompressed))
        }
        let compressed = frames.forSharedWindowBits(compressedBits)
        #expect(compressed == messages.map { $0.frame(forSharedWindowBits: compressedBits) })
        #expect(compressed[0] != plain[0])
        #expect(Self.address(compressed[0]) != Self.address(messages[0].compressed ?? []))

        // Asked again (the next member), the same copies: no copy per member.
        #expect(frames.forSharedWindowBits(nil).map(Self.address) == plain.map(Self.address))
        #expect(frames.forSharedWindowBits(compressedBits).map(Self.address) == compressed.map(Self.address))
    }

    @Test func severalSmallFramesAreAlsoJoinedOncePerWindow() {
        let messages = [PreparedMessage(.text("a")), PreparedMessage(.binary([1, 2, 3])), PreparedMessage(.text("c"))]
        var frames = LoopLocalFrames(messages)
        let shared = frames.shared(forWindowBits: nil)
        #expect(shared.frames == messages.map(\.uncompressed))
        #expect(shared.joined == messages.flatMap(\.uncompressed))
        // The next member gets the same buffer.
        #expect(Self.address(frames.shared(forWindowBits: nil).joined ?? []) == Self.address(shared.joined ?? []))

        // One frame needs no joining; frames that together reach the copy limit are not joined.
        var one = LoopLocalFrames([messages[0]])
        #expect(one.shared(forWindowBits: nil).joined == nil)
        let half = PreparedMessage(.binary([UInt8](repeating: 7, count: LoopLocalFrames.copyLimit / 2)))
        var large = LoopLocalFrames([half, half])
        #expect(large.shared(forWindowBits: nil).joined == nil)
        var under = LoopLocalFrames([PreparedMessage(.binary([UInt8](repeating: 7, count: LoopLocalFrames.copyLimit / 2 - 64))), half])
        #expect(under.shared(forWindowBits: nil).joined?.count == under.forSharedWindowBits(nil).reduce(0) { $0 + $1.count })
    }

    @Test func framesTheSocketWritesAtOnceAreNotCopied() {
        let large = PreparedMessage(.binary([UInt8](repeating: 7, count: LoopLocalFrames.copyLimit)))
        var frames = LoopLocalFrames([large])
        #expect(Self.address(frames.forSharedWindowBits(nil)[0]) == Self.address(large.uncompressed))
    }
}
