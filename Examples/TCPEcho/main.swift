// A complete TCP echo server on Eddy's runtime: the README's usage example.
// Run: swift run example-tcp-echo [PORT]   then   nc 127.0.0.1 7000
import EddyLoop
import EddyNet
import Foundation

let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 7000   // 0: any free port
let group = try EventLoopGroup()                  // one loop thread per core
let listener = try await TCPListener.bind(host: "127.0.0.1", port: port, group: group)
FileHandle.standardOutput.write(Data("LISTENING \(listener.localAddress.port)\n".utf8))

let server = Task(executorPreference: listener.eventLoop) {
    // One child task per connection, running on the loop that owns its socket.
    try await listener.serve { connection in
        for try await bytes in connection.inbound {   // everything read since last time
            try await connection.write(bytes)         // suspends only under backpressure
        }
    }
}

_ = try await group.loops[0].waitForSignal([.interrupt, .terminate])
await listener.close()                            // stop accepting
server.cancel()
_ = try? await server.value
await group.shutdown()                            // close every socket, join the threads
