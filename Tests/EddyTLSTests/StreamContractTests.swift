import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import Foundation
import EddyShared
import Testing

extension TLSTests {
    /// `ByteStream`'s guarantees, kept by `TLSStream`: push delivery with pause and resume (what
    /// the WebSocket driver uses), cancellation, calls from other threads, half-close, and the
    /// version floor.
    @Suite("TLSStream keeps the ByteStream contract", .timeLimit(.minutes(2)))
    struct StreamContractTests {
        /// Collects pushed bytes; pauses the stream after the first delivery when asked.
        final class Collector: ByteStreamReceiver, @unchecked Sendable {
            let stream: TLSStream
            let pauseAfterFirst: Bool
            let state = Mutex<(bytes: [UInt8], deliveries: Int, ended: Bool, error: String?)>(([], 0, false, nil))

            init(_ stream: TLSStream, pauseAfterFirst: Bool) {
                self.stream = stream
                self.pauseAfterFirst = pauseAfterFirst
            }

            func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
                let first = state.withLock { state in
                    state.bytes += bytes
                    state.deliveries += 1
                    return state.deliveries == 1
                }
                if first && pauseAfterFirst { stream.pauseReceiving() }
            }

            func streamDidEnd(_ error: (any Error)?) {
                state.withLock { $0.ended = true; $0.error = error.map { "\($0)" } }
            }
        }

        @Test func pushDeliveryPausesAndResumesWithoutLosingOrReorderingBytes() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: certificates.clientConfiguration, on: loop)
            let data = payload(500_000)
            let collector = Collector(stream, pauseAfterFirst: true)
            try await Task(executorPreference: loop) {
                stream.startReceiving(collector)
                try await stream.write(data)
            }.value
            // Paused after the first delivery: the echo piles up in TCP, nothing more arrives.
            for _ in 0..<500 where collector.state.withLock({ $0.deliveries }) == 0 { try await loop.sleep(for: .milliseconds(10)) }
            try await loop.sleep(for: .milliseconds(200))
            let whilePaused = collector.state.withLock { $0 }
            #expect(whilePaused.deliveries == 1)
            #expect(whilePaused.bytes.count < data.count)
            #expect(await stream.transport.counters().readPauses > 0, "pausing the TLS stream paused TCP reading")
            try await loop.submit { stream.resumeReceiving() }
            for _ in 0..<1000 where collector.state.withLock({ $0.bytes.count }) < data.count { try await loop.sleep(for: .milliseconds(10)) }
            #expect(collector.state.withLock { $0.bytes } == data)
            // The server's close_notify (after ours) ends the push cleanly.
            try await stream.shutdownWrite()
            for _ in 0..<500 where !collector.state.withLock({ $0.ended }) { try await loop.sleep(for: .milliseconds(10)) }
            #expect(collector.state.withLock { $0.ended && $0.error == nil })
            await stream.close()
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        @Test func cancellingAPendingReadClosesTheStream() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: certificates.clientConfiguration, on: loop)
            // From a task not on the loop: the read parks from another thread.
            let reading = Task { try await stream.read() }
            try await Task.sleep(for: .milliseconds(50))
            reading.cancel()
            await #expect(throws: CancellationError.self) { _ = try await reading.value }
            await stream.waitUntilClosed() // returns: the cancellation closed it
            await #expect(throws: (any Error).self) { try await stream.write([1, 2, 3]) }
            let ending = try await eventually { server.endings.withLock { $0.first } }
            #expect(ending != nil)
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        @Test func writesAndReadsFromAnotherThreadAndHalfClose() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: certificates.clientConfiguration, on: loop)
            // Not on the loop: every call hops to it.
            try await stream.write(Array("one ".utf8))
            try await stream.write(contentsOf: [Array("two ".utf8), Array("three".utf8)])
            try await stream.shutdownWrite() // close_notify: the echo server ends its loop, closes
            var received: [UInt8] = []
            while let chunk = try await stream.read() { received += chunk }
            #expect(String(decoding: received, as: UTF8.self) == "one two three")
            #expect(server.endings.withLock { $0 } == [nil])
            await stream.close()
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        /// Header and payload pairs (`writeWithoutWaiting(_:_:)`, a WebSocket frame's write)
        /// arrive in order with other writes: small ones corked into the iteration's record,
        /// large ones (above a record) encrypted at once.
        @Test func headerAndPayloadPairsKeepTheirOrder() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: certificates.clientConfiguration, on: loop)
            let sizes = [0, 5, 125, 40_000, 3, 17_000, 16_384]
            var expected: [UInt8] = []
            var pieces: [[UInt8]] = []
            for (index, size) in sizes.enumerated() {
                let piece = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ index) }
                pieces.append(piece)
                expected += [UInt8(index), 0xFF] + piece
            }
            let toWrite = pieces
            _ = try await loop.submit {
                for (index, piece) in toWrite.enumerated() {
                    let header: [UInt8] = [UInt8(index), 0xFF]
                    _ = try stream.writeWithoutWaiting(header.span.bytes, piece.span.bytes)
                    if index == 2 { _ = try stream.writeWithoutWaiting([0xEE]) }
                }
            }
            expected.insert(0xEE, at: 2 + 2 + 5 + 2 + 125)
            try await Self.expectEcho(of: expected, over: stream, loop: loop, server: server)
        }

        /// A burst's small writes are corked in a buffer of the loop's pool, and the record
        /// goes into TCP's cork (another pool buffer) through the loop's own ciphertext
        /// buffer: after the iteration both buffers are back in the pool, none was made per
        /// write, and the bytes arrive in order.
        @Test func smallWritesUseTheLoopsPoolAndGiveItBack() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: certificates.clientConfiguration, on: loop)
            var expected: [UInt8] = []
            for round in 0..<3 {
                let pieces = (0..<20).map { index in (0..<(10 + index)).map { UInt8(truncatingIfNeeded: $0 &+ index &* 7 &+ round) } }
                for piece in pieces { expected += [0x82, UInt8(piece.count)] + piece }
                let before = try await loop.submit { () -> Int in
                    let before = loop.spareWriteBuffers.count
                    for piece in pieces {
                        let header: [UInt8] = [0x82, UInt8(piece.count)]
                        _ = try stream.writeWithoutWaiting(header.span.bytes, piece.span.bytes)
                    }
                    return before
                }
                // The plaintext's cork and TCP's came from the pool and are back after the
                // iteration's flush.
                let after = try await loop.submit { loop.spareWriteBuffers.count }
                #expect(after >= 2 && after >= before, "round \(round): \(before) then \(after)")
            }
            try await Self.expectEcho(of: expected, over: stream, loop: loop, server: server)
        }

        /// Answers each delivery with a header and payload pair and a plain write (both
        /// through the plaintext cork), noting the most buffers the loop's pool held when a
        /// delivery came, and how many it held at the first. Loop thread only.
        final class PairEcho: ByteStreamReceiver, @unchecked Sendable {
            let stream: any ByteStream
            var firstSpareBuffers: Int?
            var mostSpareBuffers = 0

            init(_ stream: any ByteStream) { self.stream = stream }

            func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
                let spare = stream.eventLoop.spareWriteBuffers.count
                if firstSpareBuffers == nil { firstSpareBuffers = spare }
                mostSpareBuffers = max(mostSpareBuffers, spare)
                let header: [UInt8] = [0xAB, UInt8(truncatingIfNeeded: bytes.count)], payload = Array(bytes)
                _ = try? stream.writeWithoutWaiting(header.span.bytes, payload.span.bytes)
                _ = try? stream.writeWithoutWaiting(payload)
            }

            func streamDidEnd(_ error: (any Error)?) {}
        }

        /// What a receiver writes while it handles a read is encrypted as the read ends (and
        /// sent as TCP's read callback returns), not at the end of the loop iteration: a
        /// read's buffers (the plaintext cork's, TCP's) are back in the pool before the next
        /// stream's read, so streams that read in the same iteration reuse the same ones, and
        /// every byte comes back in order.
        @Test func writesMadeWhileHandlingAReadAreEncryptedAsTheReadEnds() async throws {
            let certificates = try await TestCertificates.shared.value
            let group = try EventLoopGroup(loopCount: 1), clientGroup = try EventLoopGroup(loopCount: 1)
            let loop = group.loops[0], clientLoop = clientGroup.loops[0]
            let context = try TLSContext(certificates.serverConfiguration())
            let listener = try await TLSListener.bind(host: "127.0.0.1", port: 0, context: context, group: group)
            let echoes = Mutex<[PairEcho]>([])
            let serving = Task(executorPreference: listener.eventLoop) {
                try await listener.serveHandingOver { stream in
                    let echo = PairEcho(stream)
                    try await stream.eventLoop.submit { stream.startReceiving(echo) }
                    echoes.withLock { $0.append(echo) }
                    return .keepOpen
                }
            }
            let clientContext = try TLSContext(certificates.clientConfiguration)
            var clients: [TLSStream] = []
            for _ in 0..<4 {
                clients.append(try await TLSStream.connect(host: "127.0.0.1", port: listener.localAddress.port, context: clientContext, on: clientLoop))
            }
            let clientList = clients
            for round in 0..<50 {
                // Every client writes in one job of its loop: the server's loop mostly finds
                // several of them readable in the same iteration.
                let messages = clientList.indices.map { index in (0..<(20 + index + round % 7)).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ index &+ round) } }
                try await clientLoop.submit {
                    for (client, message) in zip(clientList, messages) { _ = try client.writeWithoutWaiting(message) }
                }
                for (client, message) in zip(clientList, messages) {
                    let expected = [0xAB, UInt8(message.count)] + message + message
                    var received: [UInt8] = []
                    while received.count < expected.count, let chunk = try await client.read() { received += chunk }
                    #expect(received == expected, "round \(round)")
                }
            }
            let echoList = echoes.withLock { $0 }
            #expect(echoList.count == clientList.count)
            let (first, most) = try await loop.submit {
                (echoList.compactMap(\.firstSpareBuffers).max() ?? 0, echoList.map(\.mostSpareBuffers).max() ?? 0)
            }
            // Flushed at the end of the iteration instead, streams that read in the same one
            // each hold their buffers until then, and the pool grows past what it had.
            #expect(most <= first, "the pool held \(first) buffers at the first read, then up to \(most)")
            for client in clients { await client.close() }
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            _ = await group.shutdown()
            _ = await clientGroup.shutdown()
        }

        /// Half-closes `stream`, expects the echo server to have sent back `expected`, then
        /// closes everything cleanly.
        static func expectEcho(of expected: [UInt8], over stream: TLSStream, loop: EventLoop, server: EchoServer) async throws {
            try await stream.shutdownWrite()
            var received: [UInt8] = []
            while let chunk = try await stream.read() { received += chunk }
            #expect(received == expected)
            await stream.close()
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        @Test func aTLS13OnlyServerRefusesATLS12Client() async throws {
            let certificates = try await TestCertificates.shared.value
            var configuration = certificates.serverConfiguration()
            configuration.minimumVersion = .tls13
            let server = try await EchoServer.start(configuration)
            let loop = try EventLoop()
            var old = certificates.clientConfiguration
            old.maximumVersion = .tls12
            await #expect {
                _ = try await TLSStream.connect(host: "127.0.0.1", port: server.port, configuration: old, on: loop)
            } throws: { error in
                (error as? TLSError)?.code == .handshakeFailed && "\(error)".contains("protocol version")
            }
            let failure = try await eventually { server.failureDescriptions.first }
            #expect(failure?.contains("unsupported protocol") == true, "\(String(describing: failure))")
            // TLS 1.2 both ways works when both allow it.
            var twelve = certificates.clientConfiguration
            twelve.maximumVersion = .tls12
            let plain = try await EchoServer.start(certificates.serverConfiguration())
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: plain.port, configuration: twelve, on: loop)
            #expect(stream.session?.protocolVersion == "TLSv1.2")
            await stream.close()
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
            #expect(await plain.stop())
        }
    }
}
