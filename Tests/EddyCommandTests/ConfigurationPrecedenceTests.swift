@testable import eddy
import EddyTestSupport
import Foundation
import Testing

/// Options from the command line, the environment and a configuration file: one precedence
/// rule (command line, environment, file, default), lists replaced and never merged, and a
/// clear error for each kind of bad file.
@Suite("eddy: configuration file and environment", .timeLimit(.minutes(2)))
struct ConfigurationPrecedenceTests {
    static let commands: Set<String> = ["demo", "serve", "echo"]

    static func assemble(_ arguments: [String], environment: [String: String] = [:], file: String? = nil) throws -> [String] {
        try OptionSources.assemble(arguments, environment: environment, commands: commands, readFile: { path in
            guard let file, path == "c.json" else { throw CocoaError(.fileReadNoSuchFile) }
            return Data(file.utf8)
        }).arguments
    }

    @Test func eachSourceComesBeforeTheOneThatOverridesIt() throws {
        let file = #"{"demo": {"port": 1, "host": "0.0.0.0", "log-level": "info", "keep-runs": 5}}"#
        let arguments = try Self.assemble(["demo", "--config", "c.json", "--port", "3"], environment: ["EDDY_PORT": "2", "EDDY_HOST": "::1"], file: file)
        // Last wins in ArgumentParser: file, then environment, then the command line.
        #expect(arguments == ["demo", "--port", "1", "--host", "0.0.0.0", "--log-level", "info", "--keep-runs", "5",
                              "--host", "::1", "--port", "2", "--port", "3"])
    }

    @Test func aListOnTheCommandLineReplacesTheFilesList() throws {
        let file = #"{"demo": {"allow-origin": ["https://a.example", "https://b.example"], "insecure-flag": true, "off": false}}"#
        #expect(try Self.assemble(["demo", "--config=c.json"], file: file)
            == ["demo", "--allow-origin", "https://a.example", "--allow-origin", "https://b.example", "--insecure-flag"])
        #expect(try Self.assemble(["demo", "--config=c.json", "--allow-origin=https://c.example"], file: file)
            == ["demo", "--insecure-flag", "--allow-origin=https://c.example"])
    }

    @Test func theEnvironmentNamesTheFileAndOnlyServersReadOptionsFromIt() throws {
        #expect(try Self.assemble(["demo"], environment: ["EDDY_CONFIG": "c.json"], file: #"{"demo": {"db": "x.sqlite"}}"#)
            == ["demo", "--db", "x.sqlite"])
        // EDDY_PORT is for demo and serve; echo's options come from its flags and the file.
        #expect(try Self.assemble(["echo"], environment: ["EDDY_PORT": "9"]) == ["echo"])
        // Another command's section is ignored; no file, no change.
        #expect(try Self.assemble(["echo", "--config", "c.json"], file: #"{"demo": {"port": 1}}"#) == ["echo"])
        #expect(try Self.assemble(["--help"]) == ["--help"])
    }

    /// Every variable the environment may set names an option `demo` and `serve` have.
    @Test func theEnvironmentsOptionsExistOnBothServers() {
        let help = [DemoCommand.helpMessage(columns: 400), ServeCommand.helpMessage(columns: 400)]
        for name in OptionSources.environmentOptions {
            #expect(help.allSatisfy { $0.contains("--\(name) ") }, "--\(name)")
        }
    }

    @Test(arguments: [
        (#"{"demo": {"operator-token": "secret"}}"#, "tokens are not read from a configuration file; use operator-token-file"),
        (#"{"dmeo": {}}"#, #""dmeo" is not a command"#),
        (#"{"demo": 8080}"#, #""demo" must be an object of options"#),
        (#"{"demo": {"port": {"a": 1}}}"#, "a value is a string, a number, true/false or a list"),
        (#"{"demo": {"allow-origin": [true]}}"#, "a list holds strings or numbers"),
        (#"{"demo": {"--port": 1}}"#, "option names are written without dashes"),
        (#"["demo"]"#, "the file must be a JSON object"),
        (#"{"demo": "#, "invalid JSON at byte"),
    ])
    func aBadFileIsRefusedWithWhereAndWhy(file: String, message: String) {
        #expect {
            _ = try Self.assemble(["demo", "--config", "c.json"], file: file)
        } throws: { error in
            "\(error)".contains("config c.json") && "\(error)".contains(message)
        }
    }

    @Test func aMissingFileOrAMissingNameIsRefused() {
        #expect(throws: OptionSources.Problem.self) { try Self.assemble(["demo", "--config", "nowhere.json"]) }
        #expect(throws: OptionSources.Problem.self) { try Self.assemble(["demo", "--config"]) }
        #expect(throws: OptionSources.Problem.self) { try Self.assemble(["demo", "--config", "a", "--config", "b"]) }
    }

    /// The real binary: the file's port is used, the environment's beats it, and a flag
    /// beats both (the server says which port it bound); an option the command lacks is
    /// refused with where it came from.
    @Test func theBuiltCommandFollowsThePrecedence() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("eddy.json")
        let db = directory.appendingPathComponent("events.sqlite").path
        // A port that was free a moment ago may be taken by the time the server binds it (as
        // another test's client's source port): up to three tries, each with fresh ports.
        for attempt in 1...3 {
            do {
                try await Self.checkPortPrecedence(config: config, db: db)
                break
            } catch is ChildProcessError where attempt < 3 {
                continue
            }
        }
        try Data(#"{"demo": {"prot": 1}}"#.utf8).write(to: config)
        let (status, output) = try await runProcess(eddyBinary, ["demo", "--config", config.path])
        #expect(status != 0)
        #expect(output.contains("--prot 1 (config \(config.path))") && output.contains("Unknown option '--prot'"), "\(output)")
    }

    /// The file's port is used, the environment's beats it, and a flag beats both.
    static func checkPortPrecedence(config: URL, db: String) async throws {
        let filePort = try freeLoopbackPort(), environmentPort = try freeLoopbackPort()
        try Data(#"{"demo": {"port": \#(filePort), "db": "\#(db)", "gate-timeout": 600}}"#.utf8).write(to: config)
        let tokens = ["EDDY_OPERATOR_TOKEN": "op", "EDDY_VIEWER_TOKEN": "view"]
        for (environment, flags, expected) in [
            (tokens, [String](), filePort),
            (tokens.merging(["EDDY_PORT": String(environmentPort)]) { $1 }, [], environmentPort),
            (tokens.merging(["EDDY_PORT": String(environmentPort)]) { $1 }, ["--port", "0"], nil),
        ] {
            let (process, port) = try await startEddyServer(["demo", "--config", config.path] + flags,
                                                            environment: EddyTestSupport.environment(with: environment))
            process.terminate()
            process.waitUntilExit()
            if let expected { #expect(port == expected) } else { #expect(port != filePort && port != environmentPort) }
        }
    }
}
