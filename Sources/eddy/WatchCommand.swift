import ArgumentParser
import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTLS
import Foundation

/// `eddy watch URL`: follows a run in the terminal with the reconnecting `DAGStreamClient`:
/// one line per change, a summary when the run ends.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a DAG run live: EDDY_VIEWER_TOKEN=T eddy watch ws://127.0.0.1:8080/api/dags/<id>/stream"
    )

    @Argument(help: "Stream URL of the run (ws:// or wss://).") var url: String
    @Option(help: "Viewer or operator token. Avoid: every local user can read a command line; set $EDDY_VIEWER_TOKEN instead.")
    var token: String?
    @OptionGroup var tls: ClientTLSOptions

    func run() async throws {
        if token != nil { Console.error(StreamTokens.flagWarning("--token", instead: StreamTokens.viewerVariable)) }
        guard let token = token ?? ProcessInfo.processInfo.environment[StreamTokens.viewerVariable], !token.isEmpty else {
            throw ValidationError("a token is needed: set EDDY_VIEWER_TOKEN (or give --token)")
        }
        let loop = try EventLoop()
        let client = DAGStreamClient(url: url, token: token, on: loop, tls: try tls.clientContext())
        let running = Task(executorPreference: loop) { await client.run() }
        let events = client.events()
        // Safe to drop: cancelled (the watch ended by itself) or the loop shut down: stop either way.
        let stop = Task { _ = try? await loop.waitForSignal([.interrupt, .terminate]); running.cancel() }
        for await envelope in events {
            Console.out(Self.describe(envelope))
            if case .executionComplete = envelope.event { break }
        }
        if let state = client.state {
            Console.out("run \(state.dagID): \(state.state.status.rawValue) at seq \(state.seq)")
            for node in state.state.nodes { Console.out("  \(node.id): \(node.status.rawValue)") }
        }
        running.cancel()
        stop.cancel()
        await running.value
        await loop.shutdown()
    }

    static func describe(_ envelope: EventEnvelope) -> String {
        let prefix = "seq \(envelope.seq)"
        switch envelope.event {
        case .snapshot(let snapshot):
            return "\(prefix) snapshot: \(snapshot.nodes.count) nodes, \(snapshot.status.rawValue)"
        case .nodeState(let state):
            return "\(prefix) \(state.nodeID) -> \(state.status.rawValue)"
        default:
            return "\(prefix) \(envelope.event.typeName)"
        }
    }
}
