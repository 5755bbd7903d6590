import EddyLoop
import EddyWebSocket
import Synchronization

/// A client that sends numbered 4 KiB binary messages and reads nothing (until the test
/// iterates `socket.messages` itself): the peer that does not read, for backpressure and
/// stall tests.
struct Flood {
    final class Progress: Sendable {
        /// Messages `send` has accepted.
        let sent = Atomic<Int>(0)
        /// A `send` threw: the connection ended under the sender.
        let failed = Atomic<Bool>(false)
    }

    static let messageSize = 4096

    let socket: WebSocket
    let count: Int
    let progress = Progress()
    private(set) var task: Task<Void, Never>?

    /// Connects to `ws://127.0.0.1:PORT/ws` on `loop` without deflate (so the kernel's
    /// buffers hold as few messages as possible) and without keep-alive (the client must
    /// not judge the server), then sends `count` messages from a task on `loop`, message
    /// `i` carrying `i` in its first two bytes.
    static func start(port: Int, on loop: EventLoop, count: Int) async throws -> Flood {
        var configuration = WebSocketClientConfiguration()
        configuration.deflate.isEnabled = false
        configuration.connection.keepAlive = .disabled
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/ws", configuration: configuration, on: loop)
        var flood = Flood(socket: socket, count: count)
        let progress = flood.progress
        flood.task = Task(executorPreference: loop) {
            for index in 0..<count {
                var payload = [UInt8](repeating: 0, count: messageSize)
                payload[0] = UInt8(index & 0xff)
                payload[1] = UInt8(index >> 8)
                do { try await socket.send(binary: payload) } catch {
                    progress.failed.store(true, ordering: .releasing)
                    return
                }
                progress.sent.store(index + 1, ordering: .releasing)
            }
        }
        return flood
    }

    var sent: Int { progress.sent.load(ordering: .acquiring) }
    var failed: Bool { progress.failed.load(ordering: .acquiring) }

    /// The number a flood message carries, if `message` is one.
    static func index(of message: WebSocketMessage) -> Int? {
        guard case .binary(let bytes) = message, bytes.count == messageSize else { return nil }
        return Int(bytes[0]) | Int(bytes[1]) << 8
    }

    /// Waits (at most 5 s) for a `send` to fail; returns whether one did.
    func waitUntilFailed() async throws -> Bool {
        for _ in 0..<500 where !failed { try await Task.sleep(for: .milliseconds(10)) }
        return failed
    }

    /// Closes the socket, which also ends a sender still suspended, and waits for it.
    func finish() async {
        await socket.close()
        await task?.value
    }
}
