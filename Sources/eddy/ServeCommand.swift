import ArgumentParser
import EddyDAG
import EddyDAGServer
import Foundation

/// `eddy serve --dag FILE.json`: runs a DAG from a JSON definition on the engine (event log in
/// SQLite) and streams it to dashboards, like `eddy demo` with the user's own workflow.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a DAG from a JSON file and stream it live to dashboards.",
        discussion: """
        The file's format is documented in docs/dag-engine.md. Task nodes name one of the built-in \
        handlers: \(BuiltinHandlers.registry.names.joined(separator: ", ")) (each takes a "params" \
        object; see docs/dag-engine.md). The server keeps serving the finished run's history until \
        Ctrl-C; with --repeat it starts a new run whenever one ends.

        \(StreamServerOptions.tokensHelp)
        """
    )

    @OptionGroup var options: StreamServerOptions
    @Option(help: "The DAG definition (JSON).") var dag: String
    @Flag(help: "Start a new run whenever the previous one ends.") var `repeat` = false
    @Option(help: "Seconds between runs with --repeat.") var pause = 3.0

    func validate() throws {
        _ = try Self.load(dag)
        guard pause >= 0 else { throw ValidationError("--pause must not be negative") }
    }

    /// Reads and validates the definition; a clear message for any problem.
    static func load(_ path: String) throws -> DAGDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the DAG definition '\(path)'")
        }
        do {
            return try DAGDefinition(json: Array(data), handlers: BuiltinHandlers.registry)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }

    func run() async throws {
        let definition = try Self.load(dag)
        let logger = options.logging.bootstrap(label: "eddy.serve")
        let pause = self.repeat ? Duration.milliseconds(Int(self.pause * 1000)) : nil
        try await serveStreams(options, logger: logger, announce: "Eddy: serving \(dag).", adopting: { definition },
                               driver: DAGStreamServer.repeating(pause: pause, logger: logger, runIDPrefix: options.runIDPrefix, onStart: { Console.out("RUN \($0)") }) { definition })
    }
}
