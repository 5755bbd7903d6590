// A chat room over WebSocket: every text message sent to ws://127.0.0.1:PORT/chat?name=YOU
// reaches everyone in the room. `swift run example-chat [PORT] [--redis redis://HOST:PORT[/DB] --node NAME]`;
// with --redis, the room spans every process started with the same Redis. Stop with Ctrl-C.
import EddyHTTP
import EddyLoop
import EddyNet
import EddyRedis
import EddyRooms
import EddyRoomsRedis
import EddyWebSocket
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? { arguments.firstIndex(of: name).flatMap { arguments.dropFirst($0 + 1).first } }
let port = arguments.first.flatMap { Int($0) } ?? 8080
let group = try EventLoopGroup()
let rooms = RoomRegistry(group: group)            // one shard per loop; publishing never waits

// With --redis: deliver here directly and, through Redis, on every other node.
var bridge: RoomBridge?
if let url = option("--redis") {
    let node = option("--node") ?? "chat-\(ProcessInfo.processInfo.processIdentifier)"
    bridge = RoomBridge(registry: rooms, node: node, redis: RedisConfiguration(endpoint: try RedisEndpoint(url: url)),
                        on: group.loops[0]) { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
    await bridge?.start()
}
let publish: @Sendable (String) -> Void = { [bridge] text in
    if let bridge { bridge.publish(.text(text), to: "lobby") } else { rooms.publish(.text(text), to: "lobby") }
}

var router = HTTPRouter<WebSocketRoute>()
try router.addUpgrade("/chat", WebSocketRoute { socket, context in
    let name = String((context.request.queryValue("name") ?? "guest").prefix(32))
    // A member with its own outbox; a reader that falls behind loses the oldest messages.
    try await rooms.serve(socket, in: "lobby", policy: .dropOldest) { _ in
        publish("\(name) joined")
        for try await message in socket.messages {
            guard case .text(let text) = message else { continue }
            publish("\(name): \(text.prefix(2000))")
        }
    }
    publish("\(name) left")
})
let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)

let service = try await TCPService.start(group: group, host: "127.0.0.1", port: port) { [server] listener in
    try await server.serve(listener)
}
FileHandle.standardOutput.write(Data("LISTENING \(service.port)\n".utf8))
_ = try await service.waitForTerminationSignal()
await service.stop { [bridge] in await bridge?.stop() } // stop accepting, close Redis, end the handlers, join the loops
