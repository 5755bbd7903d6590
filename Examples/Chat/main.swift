// A chat room over WebSocket: every text message sent to ws://127.0.0.1:PORT/chat?name=YOU
// reaches everyone in the room. `swift run example-chat [PORT]`; stop with Ctrl-C.
import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyWebSocket
import Foundation

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
let group = try EventLoopGroup()
let rooms = RoomRegistry(group: group)            // one shard per loop; publishing never waits

var router = HTTPRouter<WebSocketRoute>()
try router.addUpgrade("/chat", WebSocketRoute { [rooms] socket, context in
    let name = String((context.request.queryValue("name") ?? "guest").prefix(32))
    // A member with its own outbox; a reader that falls behind loses the oldest messages.
    try await rooms.serve(socket, in: "lobby", policy: .dropOldest) { _ in
        rooms.publish(.text("\(name) joined"), to: "lobby")
        for try await message in socket.messages {
            guard case .text(let text) = message else { continue }
            rooms.publish(.text("\(name): \(text.prefix(2000))"), to: "lobby")
        }
    }
    rooms.publish(.text("\(name) left"), to: "lobby")
})
let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)

let service = try await TCPService.start(group: group, host: "127.0.0.1", port: port) { [server] listener in
    try await server.serve(listener)
}
FileHandle.standardOutput.write(Data("LISTENING \(service.port)\n".utf8))
_ = try await service.waitForTerminationSignal()
await service.stop()                              // stop accepting, end the handlers, join the loops
