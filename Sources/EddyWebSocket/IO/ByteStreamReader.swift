import EddyNet

/// Type erasure for a `ByteStream`'s inbound iterator, so `WebSocket` need not be
/// generic over its transport.
final class ByteStreamReader: @unchecked Sendable {
    private let nextChunk: () async throws -> [UInt8]?

    init<Stream: ByteStream>(_ stream: Stream) {
        var iterator = stream.inbound.makeAsyncIterator()
        nextChunk = { try await iterator.next() }
    }

    func next() async throws -> [UInt8]? { try await nextChunk() }
}
