import ArgumentParser

@main
struct Eddy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eddy",
        abstract: "Eddy: a real-time streaming runtime over libuv.",
        subcommands: [DemoCommand.self, ServeCommand.self, DAGLoadCommand.self, WatchCommand.self, ChatCommand.self, EchoCommand.self, BenchCommand.self, FanoutCommand.self, TCPEchoCommand.self]
    )
}
