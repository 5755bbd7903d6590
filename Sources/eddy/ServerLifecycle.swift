import EddyLoop
import EddyNet
import EddyTLS

/// The life of every server command (a `TCPService`, reported on the console): bind,
/// announce `LISTENING <port>`, serve until SIGINT or SIGTERM, then stop in order
/// (`beforeShutdown` closes what it owns politely: streams get 1001), reporting any handle
/// left open. With `tls`, SIGHUP reloads its certificate.
func runServer(
    group: EventLoopGroup,
    host: String,
    port: Int,
    tcp: TCPConfiguration = TCPConfiguration(),
    limits: ConnectionLimits = ConnectionLimits(),
    tls: TLSContext? = nil,
    announce: (Int) -> Void = { _ in },
    beforeShutdown: @escaping @Sendable () async -> Void = {},
    serve: @escaping @Sendable (TCPListener) async throws -> Void
) async throws {
    let reloads = try await reloadOnHangUp(tls, loop: group.loops[0])
    defer { reloads?.cancel() }
    let service = try await TCPService.start(group: group, host: host, port: port, configuration: tcp, limits: limits, serve: serve)
    Console.out("LISTENING \(service.port)")
    announce(service.port)
    let signal = try await service.waitForTerminationSignal()
    Console.error("eddy: \(signal), shutting down")
    reportShutdown(await service.stop(beforeShutdown: beforeShutdown))
}

/// Says on stderr if a shutdown left libuv handles open.
func reportShutdown(_ reports: [ShutdownReport]) {
    if !reports.allSatisfy(\.isClean) {
        Console.error("eddy: shutdown left handles open: \(reports)")
    }
}
