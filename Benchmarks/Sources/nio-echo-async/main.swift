// nio-echo-async: the same TCP echo server written with NIOAsyncChannel.
//
//   nio-echo-async [--host 127.0.0.1] [--port 0] [--threads N]
//
// Prints `LISTENING <port>` once bound; exits 0 on SIGTERM / SIGINT.
import Dispatch
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Options {
    var host = "127.0.0.1"
    var port = 0
    var threads = System.coreCount

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var it = args.dropFirst().makeIterator()
        while let flag = it.next() {
            guard let value = it.next() else { usage("missing value for \(flag)") }
            switch flag {
            case "--host": o.host = value
            case "--port": o.port = number(flag, value, min: 0)
            case "--threads": o.threads = number(flag, value, min: 1)
            default: usage("unknown option \(flag)")
            }
        }
        return o
    }

    static func number(_ flag: String, _ value: String, min: Int) -> Int {
        guard let n = Int(value), n >= min else { usage("bad value for \(flag): \(value)") }
        return n
    }

    static func usage(_ msg: String) -> Never {
        printError("\(msg)\nusage: nio-echo-async [--host H] [--port P] [--threads N]")
        exit(2)
    }
}

/// Writes to fd 2 (the C `stderr` global is not usable from Swift 6 code).
func printError(_ message: String) {
    let line = "nio-echo-async: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func run(options: Options, group: MultiThreadedEventLoopGroup) async throws {
    let server = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: options.host, port: options.port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }

    // SIGTERM / SIGINT: close the listening socket, which ends the accept loop below.
    let serverChannel = server.channel
    var signalSources: [DispatchSourceSignal] = []
    for sig in [SIGTERM, SIGINT] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { serverChannel.close(promise: nil) }
        source.resume()
        signalSources.append(source)
    }

    print("LISTENING \(serverChannel.localAddress?.port ?? options.port)")
    fflush(nil)

    try await withThrowingDiscardingTaskGroup { tasks in
        try await server.executeThenClose { inbound in
            for try await connection in inbound {
                tasks.addTask {
                    do {
                        try await connection.executeThenClose { inbound, outbound in
                            for try await buffer in inbound {
                                try await outbound.write(buffer)
                            }
                        }
                    } catch {
                        // Connection reset etc.: the channel is closed by executeThenClose.
                    }
                }
            }
        }
        // Listening socket closed (signal): cancel the per-connection tasks so we can exit.
        tasks.cancelAll()
    }

    signalSources.forEach { $0.cancel() }
}

// Synchronous entry point on purpose: an `async` main parks the main thread in
// dispatch_main(), which makes valgrind 3.19 (Debian 12) crash at start-up, and
// alloc-per-message.sh needs valgrind. The server itself runs in a Swift task.
let options = Options.parse(CommandLine.arguments)
let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
let finished = group.next().makePromise(of: Void.self)
finished.completeWithTask { try await run(options: options, group: group) }
do {
    try finished.futureResult.wait()
    try group.syncShutdownGracefully()
    exit(0)
} catch {
    printError("\(error)")
    exit(1)
}
