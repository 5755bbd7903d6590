import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import EddyTestSupport
import Foundation
import EddyShared

/// An in-process server whose `/room` route joins every connection to room "r" with the
/// given outbox policy and limits, and reads (and ignores) what clients send.
struct RoomServer {
    let group: EventLoopGroup
    let listener: TCPListener
    let rooms: RoomRegistry
    let serving: Task<Void, any Error>

    var url: String { "ws://127.0.0.1:\(listener.localAddress.port)/room" }

    static func start(policy: OutboxPolicy, limits: OutboxLimits = OutboxLimits(), compression: Bool = false,
                      delivery: RoomDelivery = .immediate) async throws -> RoomServer {
        let group = try EventLoopGroup(loopCount: 2)
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.deflate.isEnabled = compression
        handshake.deflate.noContextTakeover = true
        let rooms = RoomRegistry(group: group, compression: compression ? handshake.deflate : nil, delivery: delivery)
        var connection = WebSocketConfiguration()
        connection.keepAlive = .disabled
        connection.closeTimeout = .seconds(1) // a stalled peer never answers the Close
        var router = HTTPRouter<WebSocketRoute>()
        try router.addUpgrade("/room", WebSocketRoute(
            endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake), connection: connection)
        ) { socket, _ in
            try await rooms.serve(socket, in: "r", policy: policy, limits: limits) { _ in
                for try await _ in socket.messages {}
            }
        })
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, backlog: 4096, group: group)
        let serving = Task(executorPreference: listener.eventLoop) { try await server.serve(listener) }
        return RoomServer(group: group, listener: listener, rooms: rooms, serving: serving)
    }

    /// Waits (bounded) until room "r" has `count` members.
    func waitForMembers(_ count: Int, seconds: Int = 60) async throws -> Bool {
        for _ in 0..<(seconds * 100) {
            if await rooms.memberCount(of: "r") == count { return true }
            try await group.loops[0].sleep(for: .milliseconds(10))
        }
        return false
    }

    func stop() async -> Bool {
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        return await group.shutdown().allSatisfy { $0.isClean }
    }
}

/// A raw WebSocket client that completes the handshake and then never reads again: the
/// slowest possible subscriber.
func stalledSubscriber(port: Int, on loop: EventLoop) async throws -> TCPConnection {
    var configuration = TCPConfiguration()
    configuration.readHighWatermark = 4096
    configuration.readLowWatermark = 1024
    let connection = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop, configuration: configuration)
    try await connection.write(Array(("GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
    var head: [UInt8] = []
    while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
        guard let chunk = try await connection.read() else { break }
        head += chunk // the 101 arrives alone: nothing is published before the test says so
    }
    return connection
}

/// Python peers (the venv that `make test` builds).
enum Peers {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = root.appendingPathComponent(".venv/bin/python").path
    static func script(_ name: String) -> String { root.appendingPathComponent("Tests/Peers/\(name)").path }
}

/// A child process whose stdout lines can be awaited.
final class PeerProcess: @unchecked Sendable {
    let process = ChildProcess()
    private let lines = LineBuffer()
    private var reader: OutputReader?

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Peers.python)
        process.arguments = arguments
        let pipe = ChildPipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        reader = OutputReader(pipe.fileHandleForReading) { [lines] chunk in lines.append(Data(chunk)) }
    }

    var output: [String] { lines.lines }

    /// Waits (bounded) for a line starting with `prefix`; returns it.
    func line(startingWith prefix: String, seconds: Int = 120) async throws -> String? {
        for _ in 0..<(seconds * 20) {
            if let line = output.first(where: { $0.hasPrefix(prefix) }) { return line }
            if !process.isRunning, output.first(where: { $0.hasPrefix(prefix) }) == nil { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func waitForExit() async -> Int32 {
        await onOwnThread { self.process.waitUntilExit(); return self.process.terminationStatus }
    }
}

/// Lines a child process printed, assembled from arbitrary chunks.
final class LineBuffer: Sendable {
    private let state = Mutex<(lines: [String], partial: [UInt8])>(([], []))

    func append(_ data: Data) {
        state.withLock { state in
            for byte in data {
                if byte == 10 {
                    state.lines.append(String(decoding: state.partial, as: UTF8.self))
                    state.partial = []
                } else {
                    state.partial.append(byte)
                }
            }
        }
    }

    var lines: [String] { state.withLock { $0.lines } }
}
