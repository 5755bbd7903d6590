// Eddy's TCP echo server for the peer benchmark. Same CLI as the other servers:
// --host, --port (0: any), --threads; prints "LISTENING <port>"; exits 0 on SIGTERM/SIGINT.
// The main thread is synchronous (it waits on a semaphore): valgrind 3.19, which counts
// allocations per message here, crashes on Swift's async main.
import Dispatch
import EddyLoop
import EddyNet
import Glibc

func option(_ name: String, _ fallback: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

let host = option("--host", "127.0.0.1")
let port = Int(option("--port", "0")) ?? 0
let threads = Int(option("--threads", String(EventLoopGroup.coreCount))) ?? EventLoopGroup.coreCount
let group = try EventLoopGroup(loopCount: threads)
let finished = DispatchSemaphore(value: 0)

Task.detached { // detached: top-level code is main-actor isolated, and the main thread waits below
    do {
        let listener = try await TCPListener.bind(host: host, port: port, group: group)
        let line = Array("LISTENING \(listener.localAddress.port)\n".utf8)
        _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) } // unbuffered: scripts wait for it
        let serving = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { connection in
                for try await bytes in connection.inbound { try await connection.write(bytes) }
            }
        }
        _ = try await group.loops[0].waitForSignal([.interrupt, .terminate])
        await listener.close()
        serving.cancel()
        _ = try? await serving.value
    } catch {
        print("eddy-tcp-echo: \(error)")
    }
    finished.signal()
}
finished.wait()
group.syncShutdown()
exit(0)
