// An embedded DAG stream server whose nodes are your own Swift async closures:
// `swift run example-dag-server [PORT] [DB]`, then open the dashboard it prints.
// Tokens come from EDDY_OPERATOR_TOKEN / EDDY_VIEWER_TOKEN; a missing one is generated.
import EddyDAG
import EddyDAGServer
import Foundation

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

let server = try await DAGStreamServer(configuration: configuration)
say("LISTENING \(server.port)")
// Only a terminal gets the token; a log file should not.
say("dashboard: \(isatty(1) == 1 ? server.dashboardURL(token: operatorToken) : server.dashboardURL())")

// Start a run every two seconds until SIGINT/SIGTERM; then streams close with 1001 and
// the event log is flushed.
let signal = try await server.run(driver: DAGStreamServer.repeating(pause: .seconds(2), onStart: { runID in
    say("RUN \(runID)")
}) { try workflow() })
if let signal { say("stopped by \(signal)") }

/// One line on stdout at once (unbuffered, so a pipe sees it too).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
