// nio-ws-echo: the idiomatic SwiftNIO WebSocket echo server, used as a comparison
// peer for Eddy's WebSocket benchmarks.
//
//   nio-ws-echo [--host 127.0.0.1] [--port 0] [--threads N]
//
// Pipeline per connection (the standard NIO recipe):
//   HTTPRequestDecoder / HTTPResponseEncoder / HTTPServerPipelineHandler /
//   HTTPServerUpgradeHandler(NIOWebSocketServerUpgrader)
// and after a successful upgrade:
//   WebSocketFrameEncoder / WebSocketFrameDecoder(maxFrameSize: 1 MiB) /
//   WebSocketProtocolErrorHandler / WebSocketEchoHandler
//
// No permessage-deflate: NIO has no implementation of it, so an offered
// `Sec-WebSocket-Extensions` header is simply not accepted (the 101 carries none).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Largest frame and largest reassembled message accepted (1 MiB).
enum Limits {
    static let maxMessageSize = 1 << 20
}

/// Echoes every text/binary message back to the sender, answers pings with pongs and
/// echoes close frames. Fragmented messages are reassembled and echoed as one
/// unfragmented frame (capped at `maxMessageSize`; larger -> close 1009).
/// Text payloads are not UTF-8 validated (NIO does not do that for you either).
final class WebSocketEchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var sentClose = false
    private var fragmentOpcode: WebSocketOpcode? = nil
    private var fragments: ByteBuffer? = nil

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard self.fragmentOpcode == nil else {
                // A new data frame in the middle of a fragmented message.
                return self.fail(context: context, code: .protocolError)
            }
            if frame.fin {
                self.echo(context: context, opcode: frame.opcode, payload: frame.unmaskedData)
            } else {
                self.fragmentOpcode = frame.opcode
                self.fragments = frame.unmaskedData
            }
        case .continuation:
            guard let opcode = self.fragmentOpcode, var buffer = self.fragments else {
                return self.fail(context: context, code: .protocolError)
            }
            var part = frame.unmaskedData
            guard buffer.readableBytes + part.readableBytes <= Limits.maxMessageSize else {
                return self.fail(context: context, code: .messageTooLarge)
            }
            self.fragments = nil  // keep the buffer uniquely referenced while appending
            buffer.writeBuffer(&part)
            if frame.fin {
                self.fragmentOpcode = nil
                self.echo(context: context, opcode: opcode, payload: buffer)
            } else {
                self.fragments = buffer
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.write(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            self.receivedClose(context: context, frame: frame)
        default:
            self.fail(context: context, code: .protocolError)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func echo(context: ChannelHandlerContext, opcode: WebSocketOpcode, payload: ByteBuffer) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, data: payload)
        context.write(Self.wrapOutboundOut(frame), promise: nil)
    }

    private func receivedClose(context: ChannelHandlerContext, frame: WebSocketFrame) {
        if self.sentClose {
            // This is the reply to our own close: we are done.
            context.close(promise: nil)
            return
        }
        // Echo the status code the peer sent (or an empty close if it sent none), then close.
        var data = frame.unmaskedData
        let code = data.readSlice(length: 2) ?? ByteBuffer()
        let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
        self.sentClose = true
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func fail(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.sentClose else { return }
        self.sentClose = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(frame)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }
}

// MARK: - Command line

struct Options {
    var host = "127.0.0.1"
    var port = 0
    var threads = System.coreCount
    /// PEM files: with both, the server speaks wss:// (NIOSSL's server handler first in
    /// every pipeline).
    var tlsCertificate: String? = nil
    var tlsKey: String? = nil
}

func usage(_ message: String) -> Never {
    let text = "nio-ws-echo: \(message)\nusage: nio-ws-echo [--host H] [--port P] [--threads N] [--tls-cert FILE --tls-key FILE]\n"
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(2)
}

func parseOptions() -> Options {
    var options = Options()
    var args = CommandLine.arguments.dropFirst()
    while let arg = args.popFirst() {
        var name = arg
        var value: String? = nil
        if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
            name = String(arg[..<eq])
            value = String(arg[arg.index(after: eq)...])
        }
        func next() -> String {
            if let value { return value }
            guard let v = args.popFirst() else { usage("missing value for \(name)") }
            return v
        }
        switch name {
        case "--host": options.host = next()
        case "--port":
            guard let p = Int(next()), (0...65535).contains(p) else { usage("bad --port") }
            options.port = p
        case "--threads":
            guard let n = Int(next()), n >= 1 else { usage("bad --threads") }
            options.threads = n
        case "--tls-cert": options.tlsCertificate = next()
        case "--tls-key": options.tlsKey = next()
        case "-h", "--help": usage("help")
        default: usage("unknown argument \(arg)")
        }
    }
    if (options.tlsCertificate == nil) != (options.tlsKey == nil) { usage("--tls-cert and --tls-key go together") }
    return options
}

/// NIOSSL's server context for the certificate and key, or nil for plain ws://.
func makeTLSContext(_ options: Options) -> NIOSSLContext? {
    guard let certificate = options.tlsCertificate, let key = options.tlsKey else { return nil }
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    } catch {
        usage("cannot load the TLS certificate or key: \(error)")
    }
}

// MARK: - Server

/// Everything runs from this nonisolated function (not from main.swift's top level, which
/// Swift 6 treats as @MainActor: a Dispatch signal handler formed there would inherit
/// main-actor isolation and trap when run on the signal queue).
func runServer(_ options: Options) -> Never {
    signal(SIGPIPE, SIG_IGN)

    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
    let tls = makeTLSContext(options)

    let upgrader = NIOWebSocketServerUpgrader(
        maxFrameSize: Limits.maxMessageSize,
        automaticErrorHandling: true,
        shouldUpgrade: { channel, _ in
            // Accept every path; add no extra headers (and so no extensions).
            channel.eventLoop.makeSucceededFuture(HTTPHeaders())
        },
        upgradePipelineHandler: { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(WebSocketEchoHandler())
            }
        }
    )

    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 4096)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.maxMessagesPerRead, value: 16)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                }
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                )
            }
        }

    let serverChannel: Channel
    do {
        serverChannel = try bootstrap.bind(host: options.host, port: options.port).wait()
    } catch {
        usage("cannot bind \(options.host):\(options.port): \(error)")
    }

    // SIGTERM / SIGINT: close the listener; we then shut the group down and exit 0.
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let signalQueue = DispatchQueue(label: "nio-ws-echo.signals")
    let signalSources = [SIGTERM, SIGINT].map { sig in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
        source.setEventHandler { @Sendable in
            serverChannel.close(promise: nil)
        }
        source.resume()
        return source
    }

    let line = "LISTENING \(serverChannel.localAddress?.port ?? options.port)\n"
    _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }  // unbuffered: already flushed

    try? serverChannel.closeFuture.wait()
    // Open WebSocket connections are not drained: a benchmark peer just stops.
    try? group.syncShutdownGracefully()
    withExtendedLifetime(signalSources) {}
    exit(0)
}

runServer(parseOptions())
