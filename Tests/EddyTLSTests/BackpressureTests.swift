import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import Foundation
import Testing

extension TLSTests {
    /// Backpressure end to end: encrypted bytes count towards TCP's outbound watermark, and
    /// decrypting stops while decrypted bytes wait for a consumer.
    @Suite("TLS backpressure", .timeLimit(.minutes(2)))
    struct BackpressureTests {
        @Test func aWriterWaitsForASlowReaderAndEveryByteArrives() async throws {
            let certificates = try await TestCertificates.shared.value
            let group = try EventLoopGroup(loopCount: 2)
            let context = try TLSContext(certificates.serverConfiguration())
            let listener = try await TLSListener.bind(host: "127.0.0.1", port: 0, context: context, group: group)
            let data = payload(8_000_000)
            let serverSide = AsyncStream<TCPCounters>.makeStream()
            let serving = Task(executorPreference: listener.eventLoop) {
                try await listener.serve { stream in
                    // Writes far more than TCP's watermark while nobody reads.
                    for offset in stride(from: 0, to: data.count, by: 100_000) {
                        try await stream.write(Array(data[offset..<min(offset + 100_000, data.count)]))
                    }
                    try await stream.shutdownWrite()
                    serverSide.continuation.yield(await stream.transport.counters())
                    _ = try await stream.read() // the client's close_notify
                }
            }
            let loop = group.loops[1]
            let client = try await TLSStream.connect(host: "127.0.0.1", port: listener.localAddress.port,
                                                     configuration: certificates.clientConfiguration, on: loop)
            // Not reading yet: the server's writes must stop at the watermark, and this side's
            // decrypted buffer must stop TCP reading.
            var serverCounters: TCPCounters?
            let result = try await Task(executorPreference: loop) { () -> ([UInt8], TCPCounters) in
                // Wait (bounded) until the decrypted backlog has stopped TCP reading.
                for _ in 0..<1000 where await client.transport.counters().readPauses == 0 {
                    try await loop.sleep(for: .milliseconds(10))
                }
                var received: [UInt8] = []
                while let chunk = try await client.read() { received += chunk }
                let counters = await client.transport.counters()
                try await client.shutdownWrite()
                return (received, counters)
            }.value
            for await counters in serverSide.stream { serverCounters = counters; break }
            #expect(result.0 == data)
            #expect(result.1.readPauses > 0, "the client paused TCP reading: \(result.1)")
            let server = try #require(serverCounters)
            #expect(server.writerSuspensions > 0, "the server's writes waited: \(server)")
            // Encrypted bytes (more than the plaintext) went through TCP's queue.
            #expect(server.bytesWritten > data.count)
            await client.close()
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            #expect(await group.shutdown().allSatisfy { $0.isClean })
        }
    }
}
