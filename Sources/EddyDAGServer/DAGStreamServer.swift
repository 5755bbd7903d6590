public import EddyDAG
public import EddyDAGStream
import EddyHTTP
public import EddyLoop
public import EddyNet
public import EddyTLS
import EddyWebSocket
public import Logging
import EddyShared

/// Settings of a `DAGStreamServer`. Every field has a default; set at least the tokens.
public struct DAGStreamServerConfiguration: Sendable {
    /// Address to bind. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// Port to bind; 0 lets the kernel choose (read `DAGStreamServer.port`). Default 8080.
    public var port = 8080
    /// The SQLite event log. Default `eddy-events.sqlite` in the working directory.
    public var databasePath = "eddy-events.sqlite"
    /// Which finished runs the log keeps. Default: the 1,000 newest.
    public var retention = RetentionPolicy(maxFinishedRuns: 1000)
    /// The stream gateway's settings: `operatorTokens`, `viewerTokens`, `allowedOrigins`,
    /// heartbeats, outbox limits. With no token configured nobody is admitted.
    public var stream = DAGStreamConfiguration()
    /// Whether `/`, `/dashboard.js` and `/dashboard.css` serve the dashboard page. Default true.
    public var servesDashboard = true
    /// Loop threads. Default: one per core.
    public var loopCount = EventLoopGroup.coreCount
    /// Per-connection TCP settings. The default fixes the kernel send buffer at 128 KiB, so a
    /// slow dashboard's backlog stays in its outbox, where it is replaced by a fresh snapshot,
    /// instead of up to 4 MiB of stale events in the kernel.
    public var tcp: TCPConfiguration = {
        var tcp = TCPConfiguration()
        tcp.sendBufferSize = 128 * 1024
        return tcp
    }()

    /// Runs live at once at most (the engine's `maxLiveRuns`). Default 1,000.
    public var maxLiveRuns = 1_000
    /// How many connections the server keeps (in total, per client address, per second per
    /// address); over them, connections get 503 or 429 at once (see `ConnectionLimits`).
    /// With TLS a refused connection is closed without an answer (it has no TLS session).
    public var connectionLimits = ConnectionLimits()
    /// TLS: with a server context, the server speaks only HTTPS and `wss://` (the dashboard
    /// page connects back with `wss://`). `context.reload()` renews the certificate for new
    /// connections. Default nil: plain HTTP.
    public var tls: TLSContext? = nil
    /// The signals `run(driver:onSignal:)` stops on, watched from `init` on (so one sent right
    /// after the port is announced is kept, never fatal). Set it to `[]` when something else
    /// owns termination signals, e.g. a `ServiceGroup` running `services(driver:)` with
    /// `gracefulShutdownSignals`: one process must have one owner of each signal.
    /// Default: SIGINT and SIGTERM.
    public var terminationSignals: [ProcessSignal] = [.interrupt, .terminate]
    /// Where the server reports its life: listening, each shutdown step, runs a `repeating`
    /// driver starts and finishes (`info`), a driver that failed (`error`); the event log reports
    /// its own errors here too. Nothing is logged per message. Default: a logger labelled
    /// `eddy.dag-server` from whatever `LoggingSystem` the program bootstrapped (the library
    /// never bootstraps one).
    public var logger = Logger(label: "eddy.dag-server")
    /// Metrics: `GET /metrics` for operators, an optional token-free port, tallies folded every
    /// second (see `DAGServerMetricsConfiguration`). Default nil: no endpoint, no folding.
    public var metrics: DAGServerMetricsConfiguration? = nil
    /// Runs other nodes own, served and listed with this node's (runs across nodes, e.g.
    /// `EddyRunsRedis.RedisRunDirectory`). Default nil: this node's runs only.
    public var remoteRuns: (any RemoteRuns)? = nil

    public init() {}

    /// The defaults, with one operator token and one viewer token.
    public init(operatorToken: String, viewerToken: String) {
        stream.operatorTokens = [operatorToken]
        stream.viewerTokens = [viewerToken]
    }
}

/// The whole DAG stream server in one object: the engine with its SQLite event log, the
/// stream gateway (`GET /api/dags`, the lobby `/api/dags/stream`, `/api/dags/{dagId}/stream`),
/// `GET /healthz` and the dashboard page, served on its own event loops.
///
/// Lifecycle:
/// 1. `init(configuration:)` opens the log (marking runs a crash left live as interrupted),
///    binds the port and starts accepting; when it returns, `port` is bound and every route
///    answers. If binding fails, nothing is left open.
/// 2. Start runs: `engine.start(_:)` from anywhere, and/or a driver (`startDriver(_:)` or
///    `run(driver:)`), a closure that starts runs and is cancelled at shutdown.
/// 3. `run(driver:)` waits for SIGINT or SIGTERM and then shuts down; or call `shutdown()`
///    yourself when your service stops (a pending `run` then returns nil); or hand
///    `services(driver:)` to a `ServiceGroup`, which then owns the signals (set
///    `configuration.terminationSignals` to `[]`) and shuts down in the same order.
///
/// `shutdown()` stops accepting, closes every stream with 1001 (going away), ends the
/// connection handlers and shuts the loops down, then cancels the driver and shuts the
/// engine down, which commits and closes the event log (live runs are marked interrupted by
/// the next open). Each step is logged at `info` on `configuration.logger`. It is idempotent: later calls wait for the first and return its reports.
/// The server prints nothing; it reports what the caller may want to show (`port`, `baseURL`,
/// `dashboardURL(token:)`, the shutdown reports).
public final class DAGStreamServer: Sendable {
    /// Start runs here; its event log is the one dashboards replay from.
    public let engine: DAGEngine
    /// The stream routes and their sockets.
    public let gateway: DAGStreamGateway
    /// The settings the server was started with.
    public let configuration: DAGStreamServerConfiguration
    private let service: TCPService
    private let metrics: MetricsEndpoint?
    private let state = Mutex(State())

    private struct State {
        var driver: Task<Void, any Error>?
        var signalWaits: [Task<ProcessSignal, any Error>] = []
        var stoppingStreams: Task<[ShutdownReport], Never>?
        var stopping: Task<[ShutdownReport], Never>?
        var reloads: (subscription: SignalSubscription, task: Task<Void, Never>)?
    }

    /// A closure that starts runs on the engine (see `repeating(pause:onStart:_:)`).
    public typealias Driver = @Sendable (DAGEngine) async throws -> Void

    /// Opens the event log, installs the routes, binds and starts serving (see the lifecycle).
    /// - Throws: `DAGEngineError` if the log cannot be opened, `IOError` if the port cannot be
    ///   bound, or a router error for a clash of routes.
    public init(configuration: DAGStreamServerConfiguration) async throws {
        self.configuration = configuration
        let engine = try DAGEngine(configuration: .init(eventLog: .init(path: configuration.databasePath,
                                                                         retention: configuration.retention,
                                                                         logger: configuration.logger),
                                                        maxLiveRuns: configuration.maxLiveRuns))
        let gateway = DAGStreamGateway(engine: engine, configuration: configuration.stream, logger: configuration.logger,
                                       remoteRuns: configuration.remoteRuns)
        let metrics = configuration.metrics.map(MetricsEndpoint.init)
        do {
            var router = HTTPRouter<WebSocketRoute>()
            try router.addHealthCheck()
            try gateway.install(into: &router)
            if configuration.servesDashboard { try DashboardPage.install(into: &router) }
            try metrics?.install(into: &router, gateway: gateway)
            let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
            let group = try EventLoopGroup(loopCount: configuration.loopCount)
            do {
                let (tls, logger) = (configuration.tls, configuration.logger)
                // Checked before binding: a client context cannot serve.
                if let tls { try TLSListener.validate(tls) }
                service = try await TCPService.start(group: group, host: configuration.host, port: configuration.port,
                                                     configuration: configuration.tcp,
                                                     limits: tls == nil ? configuration.connectionLimits.answeringOverHTTP()
                                                                        : configuration.connectionLimits,
                                                     stopSignals: configuration.terminationSignals,
                                                     logger: configuration.logger) { listener in
                    if let tls {
                        try await server.serve(TLSListener(wrapping: listener, context: tls, onHandshakeFailure: { error in
                            logger.debug("TLS handshake failed", metadata: ["error": "\(error)"])
                        }))
                    } else {
                        try await server.serve(listener)
                    }
                }
                do {
                    try await metrics?.start(group: group, host: configuration.host)
                } catch {
                    _ = await service.stop()
                    throw error
                }
            } catch {
                _ = await group.shutdown()
                throw error
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        self.engine = engine
        self.gateway = gateway
        configuration.logger.info("listening", metadata: ["address": "\(configuration.host):\(service.port)",
                                                          "tls": "\(configuration.tls != nil)",
                                                          "database": "\(configuration.databasePath)"])
        self.metrics = metrics
    }

    /// The token-free metrics port, when `configuration.metrics?.port` asked for one.
    public var metricsPort: Int? { metrics?.port }

    /// The bound port (the kernel's choice when the configuration asked for 0).
    public var port: Int { service.port }

    /// `http://HOST:PORT` (`https://` with TLS) as configured and bound.
    public var baseURL: String { "\(configuration.tls == nil ? "http" : "https")://\(configuration.host):\(port)" }

    /// The dashboard's address; with `token`, carried in the fragment (`#token=…`), which no
    /// request sends to a server, log or Referer, and which the page removes from the address bar.
    public func dashboardURL(token: String? = nil) -> String {
        baseURL + "/" + (token.map { "#token=" + DAGServerTokens.urlEncoded($0) } ?? "")
    }

    /// The WebSocket address of one run's stream (the token goes in a header, `?token=` or the
    /// `token.<t>` subprotocol).
    public func streamURL(runID: String) -> String {
        "\(configuration.tls == nil ? "ws" : "wss")://\(configuration.host):\(port)/api/dags/\(runID)/stream"
    }

    /// Replaces the tokens that admit new streams and listings; open streams keep their role
    /// (see `DAGStreamGateway.replaceTokens`).
    public func replaceTokens(operatorTokens: Set<String>, viewerTokens: Set<String>) {
        gateway.replaceTokens(operatorTokens: operatorTokens, viewerTokens: viewerTokens)
    }

    /// Runs `reload` each time the process receives SIGHUP (the operator's "reload your
    /// settings": re-read token files, certificates), one at a time, until `shutdown()`.
    /// SIGHUP then no longer terminates the process. One watcher per server: a second call
    /// throws, as does a call once shutdown has begun.
    public func onReloadSignal(_ reload: @escaping @Sendable () async -> Void) async throws {
        let subscription = try await service.group.loops[0].subscribeToSignals([.hangUp])
        let installed = state.withLock { state -> Bool in
            guard state.reloads == nil, state.stopping == nil, state.stoppingStreams == nil else { return false }
            let task = Task {
                for await _ in subscription.signals { await reload() }
            }
            state.reloads = (subscription, task)
            return true
        }
        guard installed else {
            subscription.cancel()
            throw CancellationError()
        }
    }

    /// Starts `driver` with the engine in a task that `shutdown()` cancels. One driver per
    /// server, and none once shutdown has begun: such a call does nothing and returns false.
    @discardableResult
    public func startDriver(_ driver: @escaping Driver) -> Bool {
        let engine = self.engine
        return state.withLock { state in
            guard state.driver == nil, state.stopping == nil, state.stoppingStreams == nil else { return false }
            state.driver = Task { try await driver(engine) }
            return true
        }
    }

    /// Starts `driver` (if any), waits for SIGINT or SIGTERM (which meanwhile no longer
    /// terminate the process), calls `onSignal` with it, shuts down and returns the signal.
    /// With `configuration.terminationSignals` empty it waits for `shutdown()` or cancellation only.
    /// Returns nil, after the shutdown has finished, if `shutdown()` was called first (from
    /// elsewhere, or before `run`). Throws `CancellationError`, after shutting down, if the
    /// calling task is cancelled.
    @discardableResult
    public func run(driver: Driver? = nil, onSignal: (ProcessSignal) -> Void = { _ in }) async throws -> ProcessSignal? {
        if let driver { startDriver(driver) }
        let service = self.service
        let waiting = state.withLock { state -> Task<ProcessSignal, any Error>? in
            guard state.stopping == nil, state.stoppingStreams == nil else { return nil }
            let watchesSignals = !configuration.terminationSignals.isEmpty
            let task = Task { () throws -> ProcessSignal in
                if watchesSignals { return try await service.waitForTerminationSignal() }
                // Someone else owns the signals: wait for `shutdown()` (which cancels this) or cancellation.
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            state.signalWaits.append(task)
            return task
        }
        guard let waiting else {
            await shutdown()
            return nil
        }
        let result = await withTaskCancellationHandler { await waiting.result } onCancel: { waiting.cancel() }
        let stoppedElsewhere = state.withLock { $0.stopping != nil || $0.stoppingStreams != nil }
        if case .success(let signal) = result { onSignal(signal) }
        await shutdown()
        switch result {
        case .success(let signal):
            return signal
        case .failure where stoppedElsewhere && !Task.isCancelled:
            return nil
        case .failure(let error):
            throw error
        }
    }

    /// Shuts down in order (see the type's lifecycle) and returns the loops' reports (each
    /// `isClean` when no libuv handle was left open). Idempotent; `run` returns nil when this
    /// ends its wait. It waits for the driver to return, so a driver must not await it (it may
    /// start it in a new task).
    @discardableResult
    public func shutdown() async -> [ShutdownReport] {
        let stopping = state.withLock { state in
            if let stopping = state.stopping { return stopping }
            let task = Task<[ShutdownReport], Never> { [self] in
                let reports = await stopServing()
                await closeEventLog()
                return reports
            }
            state.stopping = task
            return task
        }
        return await stopping.value
    }

    /// The network half of `shutdown()`: stops accepting, closes every stream with 1001,
    /// ends the connections and the loops, and cancels the driver; the engine and its log stay
    /// open (runs the driver left live keep their state until `closeEventLog()`). Idempotent.
    @discardableResult
    func stopServing() async -> [ShutdownReport] {
        let stopping = state.withLock { state in
            if let stopping = state.stoppingStreams { return stopping }
            let waits = state.signalWaits
            let reloads = state.reloads
            let (service, gateway, logger) = (self.service, self.gateway, configuration.logger)
            let metrics = self.metrics
            let task = Task<[ShutdownReport], Never> { [self] in
                for wait in waits { wait.cancel() }  // while the loops still run
                reloads?.subscription.cancel()
                await reloads?.task.value
                await metrics?.stop()
                let reports = await service.stop(beforeShutdown: {
                    logger.info("shutdown: stopped accepting connections")
                    await gateway.closeAll()
                    logger.info("shutdown: in-flight commands answered, streams closed with 1001 (going away)")
                })
                logger.info("shutdown: connections ended, event loops stopped",
                            metadata: ["clean": "\(reports.allSatisfy(\.isClean))"])
                self.state.withLock { $0.driver }?.cancel()
                return reports
            }
            state.stoppingStreams = task
            return task
        }
        return await stopping.value
    }

    /// The engine half of `shutdown()`, after `stopServing()`: shuts the engine down (which
    /// ends waits on live runs, commits what is queued and closes the event log), then waits
    /// for the cancelled driver to return.
    func closeEventLog() async {
        let running = state.withLock { $0.driver }
        running?.cancel()
        await engine.shutdown()
        configuration.logger.info("shutdown: event log flushed and closed", metadata: ["database": "\(configuration.databasePath)"])
        do {
            try await running?.value
        } catch is CancellationError {
            // The driver's normal end at shutdown.
        } catch {
            configuration.logger.notice("shutdown: the driver ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// A driver that starts `definition()`, waits for the run to end, and with `pause` set
    /// starts another after that pause, until cancelled; without, it starts one run. It
    /// answers commands for the 16 newest runs only (`RecentRuns`), so it can run for weeks.
    /// `onStart` hears each run's id as it starts; `logger` hears each start and end (`info`,
    /// with `run_id`). With `runIDPrefix` the runs are named `<prefix>-run-<ms>-<n>` (unique
    /// across nodes that share a registry when each has its own prefix).
    public static func repeating(
        pause: Duration?,
        logger: Logger = Logger(label: "eddy.dag-server"),
        runIDPrefix: String? = nil,
        onStart: @escaping @Sendable (String) -> Void = { _ in },
        _ definition: @escaping @Sendable () throws -> DAGDefinition
    ) -> Driver {
        { engine in
            var recent = RecentRuns()
            var started = 0
            repeat {
                started += 1
                let name = runIDPrefix.map { "\($0)-run-\(engine.log.currentTime)-\(started)" }
                let runID = try await engine.start(try definition(), runID: name)
                logger.info("run started", metadata: ["run_id": "\(runID)"])
                onStart(runID)
                let status = await engine.waitForCompletion(runID: runID)
                logger.info("run finished", metadata: ["run_id": "\(runID)", "status": "\(status.map { "\($0)" } ?? "unknown")"])
                await recent.finished(runID, engine: engine)
                guard let pause else { return }
                try await Task.sleep(for: pause)
            } while !Task.isCancelled
        }
    }
}

/// The runs a long-lived driver keeps answering commands for (the latest `limit`); older ones
/// are forgotten by the engine (their history is still served from the log), so a server
/// that runs for weeks does not keep every run's state machine in memory.
public struct RecentRuns: Sendable {
    /// The kept runs, oldest first.
    public private(set) var kept: [String] = []
    /// How many runs are kept. Default 16.
    public let limit: Int

    public init(limit: Int = 16) { self.limit = max(1, limit) }

    /// Records that `runID` finished and makes the engine forget the runs beyond `limit`.
    public mutating func finished(_ runID: String, engine: DAGEngine) async {
        kept.append(runID)
        while kept.count > limit { await engine.forget(runID: kept.removeFirst()) }
    }
}
