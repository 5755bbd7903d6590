import EddyLoop
import EddyWebSocket

/// Opens `count` WebSocket clients to `url` for the load generators, spread round robin over
/// `group`'s loops, 200 handshakes at a time so that the server's accept backlog is not overrun.
func connectClients(_ count: Int, to url: String, configuration: WebSocketClientConfiguration,
                    group: EventLoopGroup) async throws -> [WebSocket] {
    var sockets: [WebSocket] = []
    sockets.reserveCapacity(count)
    for start in stride(from: 0, to: count, by: 200) {
        try await withThrowingTaskGroup(of: WebSocket.self) { tasks in
            for index in start..<min(count, start + 200) {
                let loop = group.loops[index % group.loops.count]
                tasks.addTask(executorPreference: loop) { try await WebSocket.connect(to: url, configuration: configuration, on: loop) }
            }
            for try await socket in tasks { sockets.append(socket) }
        }
    }
    return sockets
}
