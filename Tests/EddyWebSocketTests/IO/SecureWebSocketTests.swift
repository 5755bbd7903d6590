import EddyHTTP
import EddyLoop
import EddyNet
import EddyTLS
import EddyWebSocket
import EddyTestSupport
import Foundation
import Testing

/// HTTPS and `wss://`: the unchanged HTTP server and WebSocket driver over a
/// `TLSListener`, against Python (`websockets` and `http.client` over `ssl`) and Eddy's own
/// client with `wss://` URLs.
@Suite("HTTPS and wss://", .timeLimit(.minutes(2)))
struct SecureWebSocketTests {
    /// Serves `/healthz` and a WebSocket echo at `/echo` over TLS with the test server
    /// certificate.
    static func start(echo: EchoServerFixture.Echo) async throws -> (EventLoopGroup, TLSListener, Task<Void, any Error>) {
        let certificates = try await TestCertificates.shared.value
        let route = echo.route()
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        try router.addUpgrade("/echo", route)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let group = try EventLoopGroup(loopCount: 2)
        let context = try TLSContext(.server(certificateChain: .file(certificates.server.certificate),
                                             privateKey: .file(certificates.server.key)))
        let listener = try await TLSListener.bind(host: "127.0.0.1", port: 0, context: context, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return (group, listener, serving)
    }

    @Test(arguments: EchoServerFixture.Echo.allCases)
    func pythonWebSocketsOverSSL(echo: EchoServerFixture.Echo) async throws {
        let certificates = try await TestCertificates.shared.value
        let (group, listener, serving) = try await Self.start(echo: echo)
        let (status, output) = try await runPythonPeer("wss_client.py", ["wss://localhost:\(listener.localAddress.port)", certificates.ca])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAIL") && output.contains("PASS clean close"), "\(output)")
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    @Test(arguments: EchoServerFixture.Echo.allCases)
    func eddyClientOverWSS(echo: EchoServerFixture.Echo) async throws {
        let certificates = try await TestCertificates.shared.value
        let (group, listener, serving) = try await Self.start(echo: echo)
        let loop = group.loops[1]
        var configuration = WebSocketClientConfiguration()
        configuration.tls = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        let big = [UInt8](repeating: 42, count: 300_000)
        for host in ["localhost", "127.0.0.1"] {
            let socket = try await WebSocket.connect(to: "wss://\(host):\(listener.localAddress.port)/echo",
                                                     configuration: configuration, on: loop)
            let status = try await Task(executorPreference: loop) { () -> WebSocketCloseStatus in
                var iterator = socket.messages.makeAsyncIterator()
                try await socket.send(text: "hello \(host)")
                #expect(try await iterator.next() == .text("hello \(host)"))
                try await socket.send(binary: big)
                #expect(try await iterator.next() == .binary(big))
                return await socket.close()
            }.value
            #expect(status.code == .normalClosure)
            #expect(status.wasClean)
        }
        // The default client trusts only the system's roots: the test CA is refused, with
        // OpenSSL's reason.
        await #expect {
            _ = try await WebSocket.connect(to: "wss://localhost:\(listener.localAddress.port)/echo", on: loop)
        } throws: { error in
            (error as? TLSError)?.code == .certificateRejected && "\(error)".contains("unable to get local issuer certificate")
        }
        // A ws:// client on the wss:// port is not answered as WebSocket.
        var plain = WebSocketClientConfiguration()
        plain.handshakeTimeout = .seconds(5)
        await #expect(throws: (any Error).self) {
            _ = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/echo", configuration: plain, on: loop)
        }
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }

    /// 1,000 `wss://` connections open at once, each echoing its own messages.
    @Test func aThousandConcurrentWSSConnectionsEcho() async throws {
        let certificates = try await TestCertificates.shared.value
        let (group, listener, serving) = try await Self.start(echo: .responder)
        let clients = try EventLoopGroup(loopCount: 2)
        var configuration = WebSocketClientConfiguration()
        configuration.tls = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        configuration.connection.keepAlive = .disabled
        let url = "wss://localhost:\(listener.localAddress.port)/echo"
        let settings = configuration
        let count = 1000
        // Connect in waves of 50 (handshakes are CPU-bound on two shared cores), keep all.
        var sockets: [WebSocket] = []
        for wave in stride(from: 0, to: count, by: 50) {
            let opened = try await withThrowingTaskGroup(of: WebSocket.self) { tasks in
                for index in wave..<min(wave + 50, count) {
                    let loop = clients.loops[index % 2]
                    tasks.addTask(executorPreference: loop) { try await WebSocket.connect(to: url, configuration: settings, on: loop) }
                }
                var opened: [WebSocket] = []
                for try await socket in tasks { opened.append(socket) }
                return opened
            }
            sockets += opened
        }
        #expect(sockets.count == count)
        // All open at once: every connection echoes three messages of its own.
        let echoed = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            for (index, socket) in sockets.enumerated() {
                tasks.addTask(executorPreference: socket.eventLoop) {
                    var iterator = socket.messages.makeAsyncIterator()
                    for round in 0..<3 {
                        let text = "connection \(index) round \(round)"
                        try await socket.send(text: text)
                        guard try await iterator.next() == .text(text) else { return false }
                    }
                    return true
                }
            }
            var good = 0
            for try await ok in tasks where ok { good += 1 }
            return good
        }
        #expect(echoed == count)
        await withTaskGroup(of: Void.self) { tasks in
            for socket in sockets { tasks.addTask(executorPreference: socket.eventLoop) { _ = await socket.close() } }
        }
        #expect(await clients.shutdown().allSatisfy { $0.isClean })
        #expect(await WebSocketConnectionTests.stop(group, listener, serving))
    }
}
