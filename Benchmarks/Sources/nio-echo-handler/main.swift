// nio-echo-handler: the classic SwiftNIO ChannelHandler TCP echo server.
//
//   nio-echo-handler [--host 127.0.0.1] [--port 0] [--threads N]
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
        printError("\(msg)\nusage: nio-echo-handler [--host H] [--port P] [--threads N]")
        exit(2)
    }
}

/// Writes to fd 2 (the C `stderr` global is not usable from Swift 6 code).
func printError(_ message: String) {
    let line = "nio-echo-handler: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Writes every read straight back; flushes once per read burst.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

func run() throws {
    let options = Options.parse(CommandLine.arguments)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)

    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(EchoHandler())
            }
        }
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.socketOption(.so_reuseaddr), value: 1)

    let server = try bootstrap.bind(host: options.host, port: options.port).wait()

    // SIGTERM / SIGINT: stop accepting; the group shutdown below closes open connections.
    var signalSources: [DispatchSourceSignal] = []
    for sig in [SIGTERM, SIGINT] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { server.close(promise: nil) }
        source.resume()
        signalSources.append(source)
    }

    print("LISTENING \(server.localAddress?.port ?? options.port)")
    fflush(nil)

    try server.closeFuture.wait()
    signalSources.forEach { $0.cancel() }
    try group.syncShutdownGracefully()
}

do {
    try run()
    exit(0)
} catch {
    printError("\(error)")
    exit(1)
}
