import EddyLoop
import EddyNet
import EddyTLS
import Foundation
import Logging
import ServiceLifecycle

/// The life of the echo and chat commands (a `TCPService` run as a service of a
/// `ServiceGroup` that owns SIGINT and SIGTERM): bind, announce `LISTENING <port>` once the
/// group watches the signals, serve until one arrives, then stop in order (`beforeShutdown`
/// closes what it owns politely), reporting any handle left open, within `logging`'s
/// shutdown timeout. With `tls`, SIGHUP reloads its certificate.
func runServer(
    group: EventLoopGroup,
    host: String,
    port: Int,
    tcp: TCPConfiguration = TCPConfiguration(),
    limits: ConnectionLimits = ConnectionLimits(),
    tls: TLSContext? = nil,
    logger: Logger,
    shutdownTimeout: Double,
    announce: @escaping @Sendable (Int) -> Void = { _ in },
    beforeShutdown: @escaping @Sendable () async -> Void = {},
    serve: @escaping @Sendable (TCPListener) async throws -> Void
) async throws {
    let reloads = try await reloadOnHangUp(tls, loop: group.loops[0])
    defer { reloads?.cancel() }
    let service = try await TCPService.start(group: group, host: host, port: port, configuration: tcp, limits: limits,
                                             stopSignals: [], logger: logger, serve: serve)
    logger.info("listening", metadata: ["address": "\(host):\(service.port)", "tls": "\(tls != nil)"])
    let bound = service.port
    try await runServices([TCPServerService(service: service, logger: logger, beforeShutdown: beforeShutdown)],
                          logger: logger, shutdownTimeout: shutdownTimeout) {
        Console.out("LISTENING \(bound)")
        announce(bound)
    }
}

/// Runs `services` and the process's own lifecycle in one `ServiceGroup` that owns SIGTERM and
/// SIGINT: `announce` runs once the group watches them (so a signal sent after the
/// announcement is never fatal); on one, the services stop in reverse order, bounded by
/// `shutdownTimeout` seconds (past them: a critical log line and exit status 1).
func runServices(_ services: [any Service], logger: Logger, shutdownTimeout: Double,
                 announce: @escaping @Sendable () -> Void) async throws {
    let lifecycle = ProcessLifecycleService(logger: logger, shutdownTimeout: shutdownTimeout, announce: announce)
    let group = ServiceGroup(services: services + [lifecycle], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    try await group.run()
    logger.info("shutdown: complete, exiting")
}

/// A `TCPService` as a `Service`: serves until graceful shutdown (or cancellation), then
/// stops accepting, runs `beforeShutdown`, ends the connections and the loops.
struct TCPServerService: Service {
    let service: TCPService
    let logger: Logger
    let beforeShutdown: @Sendable () async -> Void

    func run() async throws {
        // Returns on graceful shutdown and throws on cancellation: either way, stop.
        try? await gracefulShutdown()
        let (logger, beforeShutdown) = (self.logger, self.beforeShutdown)
        let reports = await service.stop {
            logger.info("shutdown: stopped accepting connections")
            await beforeShutdown()
        }
        logger.info("shutdown: connections ended, event loops stopped", metadata: ["clean": "\(reports.allSatisfy(\.isClean))"])
        reportShutdown(reports)
    }
}

/// The process itself as the last service of its group (so the first to hear of a shutdown):
/// announces the server once the group owns the signals, and on shutdown starts the
/// deadline: if the process is still running `shutdownTimeout` seconds later, it logs a
/// critical line and exits with status 1.
struct ProcessLifecycleService: Service {
    let logger: Logger
    let shutdownTimeout: Double
    let announce: @Sendable () -> Void

    func run() async throws {
        announce()
        // Returns on graceful shutdown and throws on cancellation: both start the deadline.
        try? await gracefulShutdown()
        logger.notice("shutdown: requested, draining", metadata: ["timeout_s": "\(shutdownTimeout)"])
        let (logger, timeout) = (self.logger, shutdownTimeout)
        // A thread of its own: it must fire even if every cooperative thread is stuck.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: timeout)
            logger.critical("shutdown: not finished within \(timeout) s; exiting with status 1")
            _exit(1)
        }
    }
}

/// Says on stderr if a shutdown left libuv handles open.
func reportShutdown(_ reports: [ShutdownReport]) {
    if !reports.allSatisfy(\.isClean) {
        Console.error("eddy: shutdown left handles open: \(reports)")
    }
}
