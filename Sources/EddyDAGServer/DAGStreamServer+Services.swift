import Logging
public import ServiceLifecycle

extension DAGStreamServer {
    /// The server as the services of a `ServiceGroup`, in the order to list them: the event
    /// log first, the streams second, then the program's own services. A group shuts its
    /// services down in reverse order, so on SIGTERM (the group's `gracefulShutdownSignals`)
    /// the program's services stop first, then the streams (stop accepting, streams closed
    /// with 1001, connections ended, driver cancelled), and last the event log (flushed and
    /// closed) — the order `shutdown()` follows.
    ///
    /// The group owns the termination signals: build the server with
    /// `configuration.terminationSignals = []` (a warning is logged otherwise). SIGHUP
    /// (`onReloadSignal`) is unaffected.
    ///
    /// ```swift
    /// var configuration = DAGStreamServerConfiguration(operatorToken: op, viewerToken: view)
    /// configuration.terminationSignals = []
    /// let server = try await DAGStreamServer(configuration: configuration)
    /// let group = ServiceGroup(services: server.services(driver: driver) + [myService],
    ///                          gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    /// try await group.run()
    /// ```
    public func services(driver: Driver? = nil) -> [any Service] {
        [DAGEventLogService(server: self), DAGStreamService(server: self, driver: driver)]
    }
}

/// A `DAGStreamServer`'s streams as a `Service`: `run()` starts the driver, then serves until
/// graceful shutdown (or cancellation), then stops accepting, closes every stream with 1001,
/// ends the connections and the loops and cancels the driver, and returns. The engine and its
/// event log stay open for `DAGEventLogService`, listed before this one.
///
/// Guarantees: `run()` returns only once no connection is left; it never throws.
public struct DAGStreamService: Service {
    /// The server whose streams this serves.
    public let server: DAGStreamServer
    private let driver: DAGStreamServer.Driver?

    /// The streams of `server`, starting `driver` (if any) when run.
    public init(server: DAGStreamServer, driver: DAGStreamServer.Driver? = nil) {
        self.server = server
        self.driver = driver
    }

    public func run() async throws {
        if !server.configuration.terminationSignals.isEmpty {
            server.configuration.logger.warning(
                "the server watches SIGINT/SIGTERM itself while a service group runs it; set configuration.terminationSignals = []")
        }
        if let driver { server.startDriver(driver) }
        // Returns on graceful shutdown, and throws on cancellation: either way, stop.
        try? await gracefulShutdown()
        server.configuration.logger.info("shutdown: begins", metadata: ["port": "\(server.port)"])
        await server.stopServing()
    }
}

/// A `DAGStreamServer`'s engine and event log as a `Service`: `run()` waits for graceful
/// shutdown (or cancellation), then shuts the engine down, which commits every queued event
/// and closes the SQLite log, and returns once the driver has returned too.
///
/// Guarantees: listed before `DAGStreamService`, the log is flushed after the last stream has
/// closed, so every event a dashboard was sent is on disk when the process exits.
public struct DAGEventLogService: Service {
    /// The server whose engine and log this closes.
    public let server: DAGStreamServer

    /// The event log of `server`.
    public init(server: DAGStreamServer) { self.server = server }

    public func run() async throws {
        // Returns on graceful shutdown, and throws on cancellation: either way, close.
        try? await gracefulShutdown()
        await server.shutdown()
    }
}
