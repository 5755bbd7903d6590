import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import struct Synchronization.Atomic
import EddyShared
import Testing

/// `HTTPServer` and the WebSocket driver over a `ByteStream` that is not a `TCPConnection`:
/// a wrapper that forwards to one and counts the bytes each way, served by a listener that
/// wraps a `TCPListener`, as a TLS stream and listener will. Nothing in the server or the
/// driver may need TCP itself.
@Suite("HTTP and WebSocket over a wrapped byte stream", .timeLimit(.minutes(3)))
struct WrappedStreamTests {
    /// Serves `/healthz` and a WebSocket echo at `/echo` on a `CountingListener`.
    static func start(echo: EchoServerFixture.Echo) async throws -> (EventLoopGroup, CountingListener, Task<Void, any Error>) {
        let route = echo.route()
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        try router.addUpgrade("/echo", route)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 2)
        let listener = CountingListener(try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group))
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return (group, listener, serving)
    }

    @Test func plainRequestIsAnsweredThroughTheWrapper() async throws {
        let (group, listener, serving) = try await Self.start(echo: .task)
        let request = Array("GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".utf8)
        let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.port, on: group.loops[1])
        try await client.write(request)
        var response: [UInt8] = []
        while let bytes = try await client.read() { response += bytes }
        await client.close()
        let text = String(decoding: response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.hasSuffix("\r\n\r\nok\n"))
        let streams = listener.streams.withLock { $0 }
        #expect(streams.count == 1)
        #expect(streams.first?.received.load(ordering: .relaxed) == request.count)
        #expect(streams.first?.sent.load(ordering: .relaxed) == response.count)
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    @Test(arguments: EchoServerFixture.Echo.allCases)
    func webSocketEchoRunsThroughTheWrapper(echo: EchoServerFixture.Echo) async throws {
        let (group, listener, serving) = try await Self.start(echo: echo)
        let loop = group.loops[1]
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.port)/echo", on: loop)
        let big = [UInt8](repeating: 42, count: 200_000)
        let status = try await Task(executorPreference: loop) { () -> WebSocketCloseStatus in
            var iterator = socket.messages.makeAsyncIterator()
            try await socket.send(text: "hello")
            #expect(try await iterator.next() == .text("hello"))
            try await socket.send(binary: big)
            #expect(try await iterator.next() == .binary(big))
            return await socket.close()
        }.value
        #expect(status.code == .normalClosure)
        #expect(status.wasClean)
        let streams = listener.streams.withLock { $0 }
        #expect(streams.count == 1)
        // Whatever compression did to the big message, both directions carried the
        // handshake and the frames through the wrapper.
        #expect((streams.first?.received.load(ordering: .relaxed) ?? 0) > 100)
        #expect((streams.first?.sent.load(ordering: .relaxed) ?? 0) > 100)
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }
}

/// A listener of `CountingStream`s over a `TCPListener`.
final class CountingListener: ByteStreamListener {
    let base: TCPListener
    /// Every stream accepted so far.
    let streams = Mutex<[CountingStream]>([])

    init(_ base: TCPListener) { self.base = base }

    var port: Int { base.localAddress.port }
    var eventLoop: EventLoop { base.eventLoop }

    // EddyNet runs nonisolated async code on its caller's executor
    // (`NonisolatedNonsendingByDefault`); this target does not, so it says so here.
    func serveHandingOver(_ handler: nonisolated(nonsending) @escaping @Sendable (CountingStream) async throws -> ConnectionOutcome) async throws {
        try await base.serveHandingOver { connection in
            let stream = CountingStream(connection)
            self.streams.withLock { $0.append(stream) }
            return try await handler(stream)
        }
    }

    func close() async { await base.close() }
}

/// A `ByteStream` that forwards to a `TCPConnection` and counts the bytes each way.
final class CountingStream: ByteStream {
    let base: TCPConnection
    let received = Atomic<Int>(0)
    let sent = Atomic<Int>(0)

    init(_ base: TCPConnection) { self.base = base }

    var eventLoop: EventLoop { base.eventLoop }

    struct Inbound: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let stream: CountingStream

        func makeAsyncIterator() -> Iterator { Iterator(stream: stream) }

        struct Iterator: AsyncIteratorProtocol {
            let stream: CountingStream
            mutating func next() async throws -> [UInt8]? { try await stream.read() }
        }
    }

    var inbound: Inbound { Inbound(stream: self) }

    func read() async throws -> [UInt8]? {
        let bytes = try await base.read()
        received.add(bytes?.count ?? 0, ordering: .relaxed)
        return bytes
    }

    func write(_ bytes: [UInt8]) async throws {
        sent.add(bytes.count, ordering: .relaxed)
        try await base.write(bytes)
    }

    func write(contentsOf buffers: [[UInt8]]) async throws {
        sent.add(buffers.reduce(0) { $0 + $1.count }, ordering: .relaxed)
        try await base.write(contentsOf: buffers)
    }

    func writeWithoutWaiting(contentsOf buffers: [[UInt8]]) throws -> Bool {
        sent.add(buffers.reduce(0) { $0 + $1.count }, ordering: .relaxed)
        return try base.writeWithoutWaiting(contentsOf: buffers)
    }

    func writeWithoutWaiting(_ bytes: [UInt8]) throws -> Bool {
        sent.add(bytes.count, ordering: .relaxed)
        return try base.writeWithoutWaiting(bytes)
    }

    func waitUntilWritable() async throws { try await base.waitUntilWritable() }
    func shutdownWrite() async throws { try await base.shutdownWrite() }
    func close() async { await base.close() }
    func closeForCancellationSoon() { base.closeForCancellationSoon() }
    func waitUntilClosed() async { await base.waitUntilClosed() }
    func driverFinishesAfterClose() { base.driverFinishesAfterClose() }
    func driverFinished() { base.driverFinished() }

    func startReceiving(_ receiver: any ByteStreamReceiver) {
        base.startReceiving(CountingReceiver(receiver, counting: self))
    }

    func pauseReceiving() { base.pauseReceiving() }
    func resumeReceiving() { base.resumeReceiving() }
}

/// Counts what a `CountingStream`'s base pushes, then passes it on.
final class CountingReceiver: ByteStreamReceiver {
    let receiver: any ByteStreamReceiver
    let stream: CountingStream

    init(_ receiver: any ByteStreamReceiver, counting stream: CountingStream) {
        self.receiver = receiver
        self.stream = stream
    }

    func streamDidReceive(_ bytes: UnsafeMutableRawBufferPointer) {
        stream.received.add(bytes.count, ordering: .relaxed)
        receiver.streamDidReceive(bytes)
    }

    func streamDidEnd(_ error: (any Error)?) { receiver.streamDidEnd(error) }
}
