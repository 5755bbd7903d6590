import ArgumentParser
import EddyDAG
import EddyDAGStream
import EddyDAGServer
import EddyLoop
import EddyRunsRedis
import Foundation
import Logging

/// Options shared by `eddy serve` and `eddy demo`.
struct StreamServerOptions: ParsableArguments {
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 8080
    @Option(help: "SQLite event log file.") var db = "eddy-events.sqlite"
    @Option(help: "Operator token (may send commands). Avoid: every local user can read a command line; set $EDDY_OPERATOR_TOKEN instead.")
    var operatorToken: String?
    @Option(help: "Viewer token (read only). Avoid: every local user can read a command line; set $EDDY_VIEWER_TOKEN instead.")
    var viewerToken: String?
    @Option(help: "File of operator tokens, one per line, re-read on SIGHUP (for rotation). Instead of $EDDY_OPERATOR_TOKEN.")
    var operatorTokenFile: String?
    @Option(help: "File of viewer tokens, one per line, re-read on SIGHUP. Instead of $EDDY_VIEWER_TOKEN.")
    var viewerTokenFile: String?
    @Option(help: "Extra browser origin to admit (repeatable).") var allowOrigin: [String] = []
    @Option(help: "Finished runs the event log keeps (the oldest are deleted); 0 keeps all.") var keepRuns = 1000
    @Option(help: "Seconds between WebSocket pings to each dashboard (0: none).") var pingInterval = 20.0
    @Option(help: "Seconds a dashboard may take to answer a ping; past them it is dropped (1011) as dead.") var pongTimeout = 20.0
    @Option(help: "Milliseconds: events that follow one another this closely share one write per dashboard; under load, bursts are spaced by twice their write time if that is longer, at most 1 s (0: every event written at once).") var deliveryInterval = 16
    @OptionGroup var connections: ConnectionLimitOptions
    @OptionGroup var tls: TLSOptions
    @OptionGroup var logging: LogOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var redis: RedisOptions

    /// With `--redis`, runs are named after the node (`<node>-run-…`): unique across the nodes.
    var runIDPrefix: String? { redis.redis == nil ? nil : redis.nodeName }

    func validate() throws {
        guard keepRuns >= 0 else { throw ValidationError("--keep-runs must be 0 (all) or more") }
        guard pingInterval >= 0, pongTimeout > 0 else { throw ValidationError("--ping-interval must be 0 (none) or more, --pong-timeout more than 0") }
        guard (0...1000).contains(deliveryInterval) else { throw ValidationError("--delivery-interval must be 0 (at once) to 1000 milliseconds") }
        if operatorToken != nil && operatorTokenFile != nil { throw ValidationError("give --operator-token or --operator-token-file, not both") }
        if viewerToken != nil && viewerTokenFile != nil { throw ValidationError("give --viewer-token or --viewer-token-file, not both") }
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
        --operator-token-file and --viewer-token-file read one or more tokens per role from a file \
        (one per line, # comments) and re-read it on SIGHUP: add the new token, reload, retire the \
        old one, reload; open streams keep their role. Precedence: token flag, token file, \
        environment, generated. \
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
        let logger = options.logging.bootstrap(label: "eddy.demo")
        let timeout = Duration.milliseconds(Int(gateTimeout * 1000))
        try await serveStreams(options, logger: logger, announce: "Eddy demo: a research-agent workflow, streamed live.",
                               adopting: { try? DemoWorkflow.definition(gateTimeout: timeout) },
                               driver: DAGStreamServer.repeating(pause: .seconds(3), logger: logger, runIDPrefix: options.runIDPrefix) {
                                   try DemoWorkflow.definition(gateTimeout: timeout)
                               })
    }
}

/// The CLI around a `DAGStreamServer`: tokens from flags or the environment (a warning for
/// flags), the banner, `LISTENING <port>`, then `driver` until SIGINT/SIGTERM and an orderly
/// shutdown (streams close with 1001, the log flushes), the server's services run by one
/// `ServiceGroup`, which owns those signals (see `runServices`). With `--redis`, other nodes'
/// runs of the definition `adopting` returns are taken over when their owner dies.
func serveStreams(_ options: StreamServerOptions, logger: Logger, announce: String,
                  adopting definition: @escaping @Sendable () -> DAGDefinition?,
                  driver: @escaping DAGStreamServer.Driver) async throws {
    let tokens = try StreamTokens(operatorFlag: options.operatorToken, viewerFlag: options.viewerToken,
                                  operatorFile: options.operatorTokenFile, viewerFile: options.viewerTokenFile,
                                  environment: ProcessInfo.processInfo.environment)
    for file in [options.operatorTokenFile, options.viewerTokenFile].compactMap({ $0 }) {
        if let warning = TokenList.permissionWarning(file) { Console.error(warning) }
    }
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
    var configuration = DAGStreamServerConfiguration()
    configuration.stream.operatorTokens = Set(tokens.operatorToken.values)
    configuration.stream.viewerTokens = Set(tokens.viewerToken.values)
    configuration.host = options.host
    configuration.port = options.port
    configuration.databasePath = options.db
    configuration.retention = RetentionPolicy(maxFinishedRuns: options.keepRuns > 0 ? options.keepRuns : nil)
    configuration.stream.allowedOrigins = Set(options.allowOrigin)
    configuration.stream.keepAlive.pingInterval = options.pingInterval > 0 ? .milliseconds(Int(options.pingInterval * 1000)) : nil
    configuration.stream.keepAlive.pongTimeout = .milliseconds(Int(options.pongTimeout * 1000))
    configuration.stream.delivery = options.deliveryInterval > 0 ? .coalesced(atMostEvery: .milliseconds(options.deliveryInterval)) : .immediate
    configuration.connectionLimits = options.connections.limits
    configuration.tls = try options.tls.serverContext()
    configuration.logger = logger
    configuration.terminationSignals = [] // the service group owns them
    configuration.metrics = options.metrics.serverConfiguration()
    let sharing = try await RunSharing.start(options.redis)
    configuration.remoteRuns = sharing?.directory
    let server: DAGStreamServer
    let mirror: RunLogMirror?
    do {
        server = try await DAGStreamServer(configuration: configuration)
        do { mirror = try sharing?.mirror(server.engine, adopting: definition) } catch {
            await server.shutdown()
            throw error
        }
    } catch {
        await sharing?.stop(nil)
        throw error
    }
    // SIGHUP reloads what comes from files: the certificate, the token files. Installed
    // before LISTENING, so a SIGHUP sent after it never terminates the server.
    let tls = configuration.tls
    let tokensFromFiles = [tokens.operatorToken.source, tokens.viewerToken.source].contains { if case .file = $0 { true } else { false } }
    if tls != nil || tokensFromFiles {
        try await server.onReloadSignal {
            if let tls { reloadCertificate(tls) }
            guard tokensFromFiles else { return }
            do {
                let operators = try StreamTokens.current(tokens.operatorToken)
                let viewers = try StreamTokens.current(tokens.viewerToken)
                server.replaceTokens(operatorTokens: operators, viewerTokens: viewers)
                Console.error("eddy: SIGHUP: tokens reloaded (\(operators.count) operator, \(viewers.count) viewer)")
            } catch {
                Console.error("eddy: SIGHUP: \(error); the tokens in force are kept")
            }
        }
    }
    let lines = tokens.bannerLines(host: options.host, port: server.port, secure: configuration.tls != nil,
                                   onTerminal: onTerminal, tokenFile: tokenFile)
    let banner = ([announce] + lines + ["  event log: \(options.db)", "Stop with Ctrl-C."]).joined(separator: "\n")
    let (port, metricsPort) = (server.port, server.metricsPort)
    // The driver starts once the port is bound and announced (its output follows LISTENING).
    do {
        try await runServices(server.services(), logger: logger, shutdownTimeout: options.logging.shutdownTimeout) {
            Console.out("LISTENING \(port)")
            if let metricsPort { Console.out("METRICS \(metricsPort)") }
            Console.out(banner)
            server.startDriver(driver)
        }
    } catch {
        await server.shutdown()
        await sharing?.stop(mirror)
        throw error
    }
    reportShutdown(await server.shutdown())
    await sharing?.stop(mirror)
}
