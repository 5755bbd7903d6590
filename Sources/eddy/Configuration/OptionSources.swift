import EddyDAG
import Foundation

/// Where a server command's options come from, and the one rule for which wins:
/// **the command line, then the environment, then a configuration file, then the built-in
/// default.**
///
/// - Configuration file: `--config FILE` (anywhere after the command) or `$EDDY_CONFIG`. JSON,
///   one object per command, keyed by option names without the dashes:
///   `{"demo": {"port": 9000, "allow-origin": ["https://ops.example"], "log-level": "info"}}`.
///   Numbers and strings are values, `true` gives a flag, `false` leaves it off, an array
///   repeats the option. Tokens are refused here: a file of tokens is `operator-token-file`.
/// - Environment: `EDDY_<OPTION>` (`EDDY_PORT`, `EDDY_LOG_LEVEL` …) for the options in
///   `environmentOptions`, for `demo` and `serve`. (Tokens have their own variables,
///   `EDDY_OPERATOR_TOKEN` and `EDDY_VIEWER_TOKEN`, read by the commands themselves.)
///
/// Guarantees: the sources are turned into arguments placed before the command line's, so
/// for a single-valued option the last one given wins (ArgumentParser's rule), which is the
/// precedence above; a repeatable option from a lower source is dropped when a higher one
/// gives it, so lists are replaced, never merged. Nothing else changes how a command parses:
/// its validation and errors are the same as for the same options typed by hand.
struct OptionSources {
    /// What went wrong reading a source: the source and why.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// One option from a source, as arguments.
    struct Given: Equatable {
        let name: String
        let arguments: [String]
        let isList: Bool
        /// `config FILE` or `$EDDY_PORT`: for an error about it.
        var source = ""
    }

    /// The arguments to parse, and what was added to the command line (for errors).
    struct Assembled: Equatable {
        let arguments: [String]
        let added: [Given]

        /// Says where added options came from: `--port 1 (config c.json)`.
        var addedDescription: String {
            added.filter { !$0.arguments.isEmpty }.map { "\($0.arguments.joined(separator: " ")) (\($0.source))" }
                .joined(separator: ", ")
        }
    }

    /// The options the environment may set for `demo` and `serve`, as `EDDY_<NAME>`.
    static let environmentOptions = [
        "host", "port", "db", "keep-runs", "log-level", "shutdown-timeout", "ping-interval", "pong-timeout", "delivery-interval",
        "max-connections", "max-connections-per-ip", "connection-rate-per-ip",
        "tls-cert", "tls-key", "operator-token-file", "viewer-token-file",
    ]
    static let environmentCommands: Set<String> = ["demo", "serve"]
    /// Secrets never come from a configuration file (it is often world-readable, and copied).
    static let refusedInFile: Set<String> = ["operator-token", "viewer-token"]

    /// `arguments` (the command line without the program name) with the environment's and
    /// the configuration file's options added. `readFile` reads a file's bytes.
    static func assemble(_ arguments: [String], environment: [String: String], commands: Set<String>,
                         readFile: (String) throws -> Data) throws(Problem) -> Assembled {
        var commandLine = arguments
        let configPath = try takeConfigOption(from: &commandLine) ?? environment["EDDY_CONFIG"]
        guard let command = commandLine.first, !command.hasPrefix("-"), commands.contains(command) else {
            if let configPath, arguments.first.map(commands.contains) != true {
                throw Problem(description: "--config \(configPath): give a command first (eddy COMMAND --config FILE)")
            }
            return Assembled(arguments: commandLine, added: [])
        }
        var lower: [Given] = []
        if let configPath {
            lower += try fileOptions(configPath, command: command, commands: commands, readFile: readFile)
        }
        if environmentCommands.contains(command) {
            lower += environmentOptions.compactMap { name in
                environment[variable(for: name)].map {
                    Given(name: name, arguments: ["--\(name)", $0], isList: false, source: "$" + variable(for: name))
                }
            }
        }
        let given = Set(commandLine.dropFirst().compactMap(optionName))
        // A list from a lower source gives way to the command line's.
        let kept = lower.filter { !($0.isList && given.contains($0.name)) }
        return Assembled(arguments: [command] + kept.flatMap(\.arguments) + commandLine.dropFirst(), added: kept)
    }

    /// `EDDY_` and the option's name in capitals, dashes as underscores.
    static func variable(for option: String) -> String {
        "EDDY_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The option a command-line word names (`--port 1`, `--port=1`), if it is one.
    static func optionName(_ word: String) -> String? {
        guard word.hasPrefix("--"), word.count > 2 else { return nil }
        return String(word.dropFirst(2).prefix { $0 != "=" })
    }

    /// Removes `--config FILE` / `--config=FILE` from `arguments`; returns FILE.
    static func takeConfigOption(from arguments: inout [String]) throws(Problem) -> String? {
        guard let index = arguments.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else { return nil }
        let word = arguments[index]
        if word.hasPrefix("--config=") {
            arguments.remove(at: index)
            return String(word.dropFirst("--config=".count))
        }
        guard index + 1 < arguments.count else { throw Problem(description: "--config needs a file") }
        let path = arguments[index + 1]
        arguments.removeSubrange(index...index + 1)
        if arguments.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            throw Problem(description: "--config is given twice")
        }
        return path
    }

    /// The options `command`'s object in the JSON file at `path` gives, in the file's order.
    static func fileOptions(_ path: String, command: String, commands: Set<String>,
                            readFile: (String) throws -> Data) throws(Problem) -> [Given] {
        let bytes: Data
        do {
            bytes = try readFile(path)
        } catch {
            throw Problem(description: "config \(path): cannot read the file (\(error.localizedDescription))")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(Array(bytes), maxDepth: 8)
        } catch {
            throw Problem(description: "config \(path): \(error)")
        }
        guard case .object(let sections) = root else {
            throw Problem(description: "config \(path): the file must be a JSON object with one object per command, as {\"demo\": {\"port\": 9000}}")
        }
        for section in sections where !commands.contains(section.key) {
            throw Problem(description: "config \(path): \"\(section.key)\" is not a command (\(commands.sorted().joined(separator: ", ")))")
        }
        guard let section = root[command] else { return [] }
        guard case .object(let options) = section else {
            throw Problem(description: "config \(path): \"\(command)\" must be an object of options")
        }
        var given: [Given] = []
        for option in options {
            let name = option.key
            let place = "config \(path): \(command).\(name)"
            if refusedInFile.contains(name) {
                throw Problem(description: "\(place): tokens are not read from a configuration file; use \(name)-file (a file of tokens, mode 0600) or $\(variable(for: name))")
            }
            if name.hasPrefix("-") || name == "config" || name.isEmpty {
                throw Problem(description: "\(place): option names are written without dashes, and a file cannot name another file")
            }
            var one = try Self.option(name, option.value, place: place)
            one.source = "config \(path)"
            given.append(one)
        }
        return given
    }

    static func option(_ name: String, _ value: JSONValue, place: String) throws(Problem) -> Given {
        let flag = "--\(name)"
        switch value {
        case .bool(let on):
            return Given(name: name, arguments: on ? [flag] : [], isList: false)
        case .array(let values):
            var arguments: [String] = []
            for element in values {
                guard let text = scalar(element) else { throw Problem(description: "\(place): a list holds strings or numbers") }
                arguments += [flag, text]
            }
            return Given(name: name, arguments: arguments, isList: true)
        default:
            guard let text = scalar(value) else {
                throw Problem(description: "\(place): a value is a string, a number, true/false or a list")
            }
            return Given(name: name, arguments: [flag, text], isList: false)
        }
    }

    static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): String(number)
        default: nil
        }
    }
}
