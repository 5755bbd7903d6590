import CSpawn
import EddyLoop
import EddyNet
@testable import EddyTLS
import EddyTestSupport
import Foundation
import EddyShared
import Testing

extension TLSTests {
    /// An idle TLS connection that moved data holds no record buffers
    /// (`SSL_MODE_RELEASE_BUFFERS`) and no grown BIO buffers.
    @Suite("TLS idle memory", .timeLimit(.minutes(2)))
    struct IdleMemoryTests {
        @Test func idleConnectionsKeepNoLargeBuffers() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: server.port,
                                                     configuration: certificates.clientConfiguration, on: loop)
            let data = payload(1_000_000)
            let footprint = try await Task(executorPreference: loop) { () -> (Int, Bool) in
                // Write it all at once and read the echo at once: both BIOs see large bursts.
                let writer = Task(executorPreference: loop) { try await stream.write(data) }
                var received = 0
                while received < data.count, let chunk = try await stream.read() { received += chunk.count }
                try await writer.value
                let footprint = stream.bufferFootprint
                return (footprint.bioCapacity, footprint.releasesRecordBuffers)
            }.value
            #expect(footprint.1)
            #expect(footprint.0 <= 8 * 1024, "the BIOs kept \(footprint.0) bytes")
            await stream.close()
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        /// Heap per idle connection pair (client and server in this process), TLS against TCP:
        /// the figure in BENCHMARKS.md. A measurement, not a check: suites running at the same
        /// time move the process's heap, so it runs only when asked for, alone:
        /// `EDDY_TLS_MEMORY_FIGURES=1 swift test --skip-build --filter heapPerIdleConnection`.
        @Test(.enabled(if: ProcessInfo.processInfo.environment["EDDY_TLS_MEMORY_FIGURES"] != nil))
        func heapPerIdleConnection() async throws {
            let tcp = try await Self.perConnection(tls: false, count: 200, bytes: 100_000)
            let tls = try await Self.perConnection(tls: true, count: 200, bytes: 100_000)
            print("idle heap per connection pair (client + server, after echoing 100 kB): TCP \(tcp) B, TLS \(tls) B, TLS extra \(tls - tcp) B")
            #expect(tls > tcp, "a TLS connection costs something")
        }

        static func heapInUse() -> Int { Int(eddy_test_heap_in_use()) }

        /// Opens `count` connections that each echo `bytes` bytes, then idle; returns the heap
        /// growth per connection pair.
        static func perConnection(tls: Bool, count: Int, bytes: Int) async throws -> Int {
            let certificates = try await TestCertificates.shared.value
            let group = try EventLoopGroup(loopCount: 2)
            let loop = group.loops[1]
            let clientContext = try TLSContext(certificates.clientConfiguration)
            let data = payload(bytes)
            let held = Mutex<[any ByteStream]>([])
            let tcpListener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
            let listener: any ByteStreamListener = tls
                ? try TLSListener(wrapping: tcpListener, context: try TLSContext(certificates.serverConfiguration()))
                : tcpListener
            let serving = Task(executorPreference: listener.eventLoop) { try await serveEcho(listener) }
            let port = tcpListener.localAddress.port
            let before = heapInUse()
            for _ in 0..<count {
                let stream: any ByteStream = tls
                    ? try await TLSStream.connect(host: "127.0.0.1", port: port, context: clientContext, on: loop)
                    : try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
                try await Task(executorPreference: loop) {
                    try await stream.write(data)
                    var received = 0
                    while received < data.count, let chunk = try await stream.read() { received += chunk.count }
                }.value
                held.withLock { $0.append(stream) }
            }
            let after = heapInUse()
            for stream in held.withLock({ $0 }) { await stream.close() }
            await listener.close()
            serving.cancel()
            _ = try? await serving.value
            _ = await group.shutdown()
            return (after - before) / count
        }

        static func serveEcho<L: ByteStreamListener>(_ listener: L) async throws {
            try await listener.serveHandingOver { stream in
                .handOver {
                    while let chunk = try? await stream.read() { _ = try? await stream.write(chunk) }
                }
            }
        }
    }
}
