import ArgumentParser
import Foundation

@main
struct Eddy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eddy",
        abstract: "Eddy: a real-time streaming runtime over libuv.",
        discussion: """
            Options come from the command line, then the environment (EDDY_<OPTION>, e.g. EDDY_PORT, \
            for demo and serve), then a configuration file (--config FILE after the command, or \
            $EDDY_CONFIG: JSON, one object per command, e.g. {"demo": {"port": 9000}}), then the \
            defaults: the first that gives an option wins.
            """,
        subcommands: [DemoCommand.self, ServeCommand.self, DAGLoadCommand.self, WatchCommand.self, ChatCommand.self, EchoCommand.self, BenchCommand.self, FanoutCommand.self, TCPEchoCommand.self]
    )

    /// The command names a configuration file may have sections for.
    static var commandNames: Set<String> {
        Set(configuration.subcommands.compactMap { $0.configuration.commandName })
    }

    /// ArgumentParser's own entry, with the environment's and the configuration file's
    /// options placed before the command line's (`OptionSources`).
    static func main() async {
        let assembled: OptionSources.Assembled
        do {
            assembled = try OptionSources.assemble(
                Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment,
                commands: commandNames, readFile: { try Data(contentsOf: URL(fileURLWithPath: $0)) })
        } catch {
            exit(withError: error)
        }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(assembled.arguments)
        } catch {
            if !assembled.addedDescription.isEmpty {
                Console.error("eddy: besides the command line, options came from: \(assembled.addedDescription)")
            }
            exit(withError: error)
        }
        do {
            var command = command
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
