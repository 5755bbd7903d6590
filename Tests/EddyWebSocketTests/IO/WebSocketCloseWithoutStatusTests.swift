import EddyLoop
import EddyNet
import EddyWebSocket
import Testing

/// RFC 6455 §7.1.5: a Close frame without a status code is a clean close (1005). Like 1000
/// and 1001 it ends `messages` normally (Python `websockets` treats it so; Autobahn's
/// fuzzing server closes `getCaseCount` that way).
@Suite("WebSocket: a Close without a status code is a normal end", .timeLimit(.minutes(3)))
struct WebSocketCloseWithoutStatusTests {
    @Test func messagesEndWithoutErrorAfterAnEmptyClose() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        // A raw server: the 101, one text message, then an empty Close, then it waits for the
        // client's Close and closes TCP.
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                var head: [UInt8] = []
                while !head.suffix(4).elementsEqual([13, 10, 13, 10]), head.count < 8192, let chunk = try await connection.read() { head += chunk }
                let request = String(decoding: head, as: UTF8.self)
                let key = request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }?
                    .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                let accept = WebSocketAccept.acceptValue(forKey: key) ?? ""
                try await connection.write(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n".utf8))
                try await connection.write([0x81, 0x02] + Array("hi".utf8) + [0x88, 0x00])
                _ = try await connection.read() // the client's Close
            }
        }
        let socket = try await WebSocket.connect(to: "ws://127.0.0.1:\(listener.localAddress.port)/", on: group.loops[0])
        var received: [WebSocketMessage] = []
        for try await message in socket.messages { received.append(message) } // no error
        #expect(received == [.text("hi")])
        #expect(socket.closeStatus?.code == .noStatusReceived)
        #expect(socket.closeStatus?.wasClean == true)
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }
}
