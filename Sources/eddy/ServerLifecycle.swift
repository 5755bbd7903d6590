import EddyLoop
import EddyNet

/// The life of every server command: bind, announce `LISTENING <port>`, serve until
/// SIGINT or SIGTERM, then stop accepting, let `beforeShutdown` close what it owns politely
/// (streams get 1001), cancel the handlers and shut the loops down in order, reporting any
/// handle left open.
func runServer(
    group: EventLoopGroup,
    host: String,
    port: Int,
    tcp: TCPConfiguration = TCPConfiguration(),
    announce: (Int) -> Void = { _ in },
    beforeShutdown: @Sendable () async -> Void = {},
    serve: @escaping @Sendable (TCPListener) async throws -> Void
) async throws {
    // Watch for stop requests before announcing the port: a SIGTERM sent as soon as the
    // announcement is read must stop the server in order, not kill it.
    let stopRequest = try await group.loops[0].watchSignals([.interrupt, .terminate])
    let listener: TCPListener
    do {
        listener = try await TCPListener.bind(host: host, port: port, group: group, configuration: tcp)
    } catch {
        stopRequest.cancel()
        throw error
    }
    Console.out("LISTENING \(listener.localAddress.port)")
    announce(listener.localAddress.port)
    // The accept loop prefers the listener's loop, so a busy global pool cannot stall it.
    let serving = Task(executorPreference: listener.eventLoop) { try await serve(listener) }
    let signal: ProcessSignal = try await stopRequest.next()
    Console.error("eddy: \(signal), shutting down")
    await listener.close()
    await beforeShutdown()
    serving.cancel()
    _ = try? await serving.value
    let reports = await group.shutdown()
    if !reports.allSatisfy(\.isClean) {
        Console.error("eddy: shutdown left handles open: \(reports)")
    }
}
