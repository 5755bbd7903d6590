import ArgumentParser
import EddyDAG
import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyNet
import EddyWebSocket
import Foundation
import Synchronization

/// Options shared by `eddy serve` and `eddy demo`.
struct StreamServerOptions: ParsableArguments {
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 8080
    @Option(help: "SQLite event log file.") var db = "eddy-events.sqlite"
    @Option(help: "Operator token (may send commands). Avoid: every local user can read a command line; set $EDDY_OPERATOR_TOKEN instead.")
    var operatorToken: String?
    @Option(help: "Viewer token (read only). Avoid: every local user can read a command line; set $EDDY_VIEWER_TOKEN instead.")
    var viewerToken: String?
    @Option(help: "Extra browser origin to admit (repeatable).") var allowOrigin: [String] = []
    @Option(help: "Finished runs the event log keeps (the oldest are deleted); 0 keeps all.") var keepRuns = 1000

    func validate() throws {
        guard keepRuns >= 0 else { throw ValidationError("--keep-runs must be 0 (all) or more") }
        if let problem = StreamTokens.problem(operatorFlag: operatorToken, viewerFlag: viewerToken,
                                              environment: ProcessInfo.processInfo.environment) {
            throw ValidationError(problem)
        }
    }

    /// The part of `eddy demo --help` and `eddy serve --help` about tokens.
    static let tokensHelp = """
        Tokens: set EDDY_OPERATOR_TOKEN (may approve, pause, resume, cancel) and EDDY_VIEWER_TOKEN \
        (read only) in the environment; either one not set is generated. --operator-token and \
        --viewer-token still work but print a warning: every local user can read a command line. \
        On a terminal the server prints the tokens and the dashboard address with the operator \
        token (http://HOST:PORT/#token=…). Otherwise it prints no token, and writes generated \
        ones to DB.tokens (next to the event log, mode 0600, removed when the server stops).
        """
}

/// `eddy demo`: the main job. Runs the demo research-agent workflow again and again on the
/// DAG engine (event log in SQLite), streams every run to dashboards at
/// `/api/dags/{id}/stream`, and serves a minimal live dashboard at `/`.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the demo: a DAG workflow that repeats, streamed live to dashboards (default http://127.0.0.1:8080/).",
        discussion: StreamServerOptions.tokensHelp
    )

    @OptionGroup var options: StreamServerOptions
    @Option(help: "Seconds before the demo's approval gate approves itself.") var gateTimeout = 120.0

    func run() async throws {
        try await serveStreams(options, announce: "Eddy demo: a research-agent workflow, streamed live.") { engine in
            let timeout = Duration.milliseconds(Int(gateTimeout * 1000))
            var recent = RecentRuns()
            while !Task.isCancelled {
                let runID = try await engine.start(try DemoWorkflow.definition(gateTimeout: timeout))
                _ = await engine.waitForCompletion(runID: runID)
                await recent.finished(runID, engine: engine)
                try await Task.sleep(for: .seconds(3))
            }
        }
    }
}

/// Opens the engine, installs the stream gateway and the dashboard, runs `driver` (which
/// starts runs) until SIGINT/SIGTERM, then stops in order: streams close, the log flushes.
func serveStreams(_ options: StreamServerOptions, announce: String,
                  driver: @escaping @Sendable (DAGEngine) async throws -> Void) async throws {
    let tokens = StreamTokens(operatorFlag: options.operatorToken, viewerFlag: options.viewerToken,
                              environment: ProcessInfo.processInfo.environment)
    for warning in tokens.warnings { Console.error(warning) }
    // Tokens are shown only on a terminal; generated ones go to a file otherwise (StreamTokens).
    let onTerminal = isatty(1) == 1
    let tokenFile = StreamTokens.tokenFile(forDatabase: options.db)
    let writesTokenFile = !onTerminal && !tokens.generatedLines.isEmpty
    if writesTokenFile {
        do {
            try TokenFile.write(tokens.generatedLines, to: tokenFile)
        } catch {
            throw TokenFile.WriteError(description: "\(error); set EDDY_OPERATOR_TOKEN and EDDY_VIEWER_TOKEN, or run on a terminal")
        }
    }
    defer { if writesTokenFile { TokenFile.remove(tokenFile) } }
    let retention = RetentionPolicy(maxFinishedRuns: options.keepRuns > 0 ? options.keepRuns : nil)
    let engine = try DAGEngine(configuration: .init(eventLog: .init(path: options.db, retention: retention)))
    var configuration = DAGStreamConfiguration()
    configuration.operatorTokens = [tokens.operatorToken.value]
    configuration.viewerTokens = [tokens.viewerToken.value]
    configuration.allowedOrigins = Set(options.allowOrigin)
    let gateway = DAGStreamGateway(engine: engine, configuration: configuration)
    var router = HTTPRouter<WebSocketRoute>()
    try router.addHealthCheck()
    try gateway.install(into: &router)
    try DashboardPage.install(into: &router)
    let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
    let group = try EventLoopGroup()
    // The driver starts once the port is bound and announced (its output follows LISTENING).
    let driving = Mutex<Task<Void, any Error>?>(nil)
    let host = options.host
    // A fixed kernel send buffer keeps a slow dashboard's backlog in its outbox, where it is
    // replaced by a fresh snapshot, instead of up to 4 MiB of stale events in the kernel.
    var tcp = TCPConfiguration()
    tcp.sendBufferSize = 128 * 1024
    try await runServer(group: group, host: host, port: options.port, tcp: tcp, announce: { port in
        let lines = tokens.bannerLines(host: host, port: port, onTerminal: onTerminal, tokenFile: tokenFile)
        Console.out(([announce] + lines + ["  event log: \(options.db)", "Stop with Ctrl-C."]).joined(separator: "\n"))
        driving.withLock { $0 = Task { try await driver(engine) } }
    }, beforeShutdown: { await gateway.closeAll() }) { listener in try await server.serve(listener) }
    // Stop the driver, then the engine (which ends waits on live runs and flushes the
    // log), and only then wait for the driver to return.
    let driver = driving.withLock { $0 }
    driver?.cancel()
    await engine.shutdown()
    _ = try? await driver?.value
}

/// The runs a repeating driver keeps answering commands for (the latest few); older ones
/// are forgotten by the engine (their history is still served from the log), so a server
/// that runs for weeks does not keep every run's state machine in memory.
struct RecentRuns {
    var kept: [String] = []
    let limit = 16

    mutating func finished(_ runID: String, engine: DAGEngine) async {
        kept.append(runID)
        while kept.count > limit { await engine.forget(runID: kept.removeFirst()) }
    }
}
