import EddyLoop
import EddyTestSupport
import EddyWebSocket
import Foundation
import Testing

/// SIGTERM to `eddy echo` (connections driven by a responder, no task each) and to `eddy chat`
/// (a room member's task): every open WebSocket is closed with 1001 (going away), and the
/// process exits 0.
@Suite("eddy echo and chat: SIGTERM closes WebSockets with 1001", .timeLimit(.minutes(2)))
struct ServerDrainTests {
    @Test(arguments: [["echo", "--port", "0"], ["echo", "--port", "0", "--broadcast"], ["chat", "--port", "0"]])
    func openConnectionsAreClosedWithGoingAway(_ arguments: [String]) async throws {
        let (server, port) = try await startEddyServer(arguments)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let path = arguments[0] == "chat" ? "/ws?name=t" : "/"
        var sockets: [WebSocket] = []
        for _ in 0..<3 { sockets.append(try await WebSocket.connect(to: "ws://127.0.0.1:\(port)\(path)", on: loop)) }
        // Each connection works before the signal.
        for socket in sockets {
            try await Task(executorPreference: loop) { try await socket.send(text: "hello") }.value
        }
        let ends = sockets.map { socket in
            Task(executorPreference: loop) { () -> WebSocketCloseCode? in
                do {
                    for try await _ in socket.messages {}
                } catch let error as WebSocketClosedError {
                    return error.status.code
                } catch {}
                return socket.closeStatus?.code
            }
        }
        server.terminate()
        for _ in 0..<150 where server.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!server.isRunning, "eddy \(arguments[0]) did not exit within 15 s of SIGTERM")
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
        #expect(server.terminationReason == .exit && server.terminationStatus == 0)
        for end in ends { #expect(await end.value == .goingAway) }
        #expect(await loop.shutdown().isClean)
    }
}
