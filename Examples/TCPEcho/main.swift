// A complete TCP echo server on Eddy's runtime: the README's usage example.
// Run: swift run example-tcp-echo   then   nc 127.0.0.1 7000
import EddyLoop
import EddyNet

let group = try EventLoopGroup()                  // one loop thread per core
let listener = try await TCPListener.bind(host: "127.0.0.1", port: 7000, group: group)
print("echoing on \(listener.localAddress)")

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
