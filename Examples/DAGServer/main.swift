// An embedded DAG stream server whose nodes are your own Swift async closures, run with your
// own service in one ServiceGroup: `swift run example-dag-server [PORT] [DB]`, then open the
// dashboard it prints. Tokens come from EDDY_OPERATOR_TOKEN / EDDY_VIEWER_TOKEN; a missing one
// is generated. SIGTERM or Ctrl-C stops your service first, then the streams (1001), then the
// event log (flushed).
import EddyDAG
import EddyDAGServer
import Foundation
import Logging
import ServiceLifecycle

// The program, not the library, chooses where logs go: stderr, so stdout stays for LISTENING.
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .notice
    return handler
}
let logger = Logger(label: "example-dag-server")

let arguments = CommandLine.arguments.dropFirst()
let environment = ProcessInfo.processInfo.environment
let operatorToken = environment[DAGServerTokens.operatorVariable] ?? DAGServerTokens.generate()
let viewerToken = environment[DAGServerTokens.viewerVariable] ?? DAGServerTokens.generate()

/// The workflow: fetch some numbers, square them, add them up, each step a plain closure.
func workflow() throws -> DAGDefinition {
    var dag = DAGBuilder(maxConcurrency: 4)
    dag.task("fetch", label: "Fetch numbers") { _ in
        try await Task.sleep(for: .milliseconds(300))        // stands for a network call
        return .array((1...10).map { .int(Int64($0)) })
    }
    dag.task("square", after: ["fetch"], label: "Square them") { context in
        let numbers = context.inputs["fetch"]?.arrayValue?.compactMap(\.intValue) ?? []
        await context.progress(["count": .int(Int64(numbers.count))])
        await context.reportCost(tokens: 120, cost: 0.001)   // shows on the dashboard
        return .array(numbers.map { .int($0 * $0) })
    }
    dag.task("sum", after: ["square"], label: "Add them up") { context in
        let squares = context.inputs["square"]?.arrayValue?.compactMap(\.intValue) ?? []
        return ["total": .int(squares.reduce(0, +))]
    }
    return try dag.build()
}

var configuration = DAGStreamServerConfiguration(operatorToken: operatorToken, viewerToken: viewerToken)
configuration.port = arguments.first.flatMap { Int($0) } ?? 8080
configuration.databasePath = arguments.dropFirst().first ?? "example-events.sqlite"
configuration.terminationSignals = []  // the service group below owns SIGTERM and SIGINT
configuration.logger = logger

/// Your own service, in the same group as the server: it reports how many runs the log has
/// every second until the group shuts down, and is stopped before the server's streams.
struct RunReporter: Service {
    let engine: DAGEngine

    func run() async throws {
        say("reporter: started")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Ends early (cancelled) when the group starts shutting down; nothing to report then.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            do {
                let runs = try engine.runSummaries().count
                logger.info("runs so far", metadata: ["runs": "\(runs)"])
            } catch {
                logger.warning("cannot list runs", metadata: ["error": "\(error)"])
            }
        }
        say("reporter: stopped")
    }
}

let server = try await DAGStreamServer(configuration: configuration)
say("LISTENING \(server.port)")
// Only a terminal gets the token; a log file should not.
say("dashboard: \(isatty(1) == 1 ? server.dashboardURL(token: operatorToken) : server.dashboardURL())")

// Start a run every two seconds until SIGINT/SIGTERM. Services stop in reverse order: the
// reporter, then the streams (closed with 1001), then the event log (flushed).
let driver = DAGStreamServer.repeating(pause: .seconds(2), logger: logger, onStart: { runID in say("RUN \(runID)") }) {
    try workflow()
}
let group = ServiceGroup(services: server.services(driver: driver) + [RunReporter(engine: server.engine)],
                         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
say("stopped")

/// One line on stdout at once (unbuffered, so a pipe sees it too).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
