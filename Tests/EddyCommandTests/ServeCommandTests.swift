import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// `eddy serve --dag FILE.json` end to end: the built binary loads a definition that uses
/// every built-in handler, a `DAGStreamClient` follows the run, approves its gate and sees
/// the outputs the handlers promise; a bad definition is refused before anything binds.
@Suite("eddy serve --dag", .timeLimit(.minutes(2)))
struct ServeCommandTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dags")

    @Test func servesARunFromAJSONDefinition() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(
            db: log.path, command: "serve", arguments: ["--dag", Self.fixtures.appendingPathComponent("approval.json").path])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        let loop = try EventLoop()
        let runID = try #require(try await DemoCommandTests.newestRun(port: port, loop: loop))
        let client = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "op", on: loop)
        let following = Task(executorPreference: loop) { await client.run() }
        for _ in 0..<500 where client.state?.node("review")?.status != .waitingHuman { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state?.node("review")?.status == .waitingHuman)
        let result = try await client.send(ClientCommand(commandID: "ship-it", action: .humanDecision(.init(nodeID: "review", decision: .approve))))
        #expect(result.status == .accepted)
        for _ in 0..<500 where client.state?.isFinished != true { try await loop.sleep(for: .milliseconds(10)) }
        let state = try #require(client.state)
        #expect(state.state.status == .completed)
        #expect(state.node("draft")?.output == .string("draft text"))
        #expect(state.node("flaky")?.output == .string("recovered"))
        #expect(state.node("flaky")?.attempt == 2)
        #expect(state.node("join")?.output == ["draft": "draft text", "flaky": "recovered"])
        #expect(state.node("ship")?.output == .string("shipped"))
        #expect(state.state.cost.spent == 0.25)
        following.cancel()
        await following.value

        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning)
        #expect(await loop.shutdown().isClean)
    }

    @Test func repeatedRunsAreBoundedByKeepRuns() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: [
            "--dag", Self.fixtures.appendingPathComponent("quick.json").path, "--repeat", "--pause", "0.01", "--keep-runs", "2",
        ])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        // Wait (bounded) until the sixth run exists, then the log holds at most the two
        // newest finished runs plus the live one.
        var listing = ""
        func newest(_ text: String) -> Int {
            text.components(separatedBy: #""dag_id":"run-"#).dropFirst()
                .compactMap { Int($0.prefix { $0 != "\"" }.split(separator: "-").last ?? "") }.max() ?? 0
        }
        for _ in 0..<300 where newest(listing) < 6 {
            listing = try await DemoCommandTests.listing(port: port, loop: loop)
            try await loop.sleep(for: .milliseconds(20))
        }
        #expect(newest(listing) >= 6, "\(listing)")
        let runs = listing.components(separatedBy: #""dag_id""#).count - 1
        #expect(runs >= 1 && runs <= 3, "\(listing)")
        #expect(!listing.contains(#"-1","#), "the first run was deleted: \(listing)")
        server.terminate()
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await loop.shutdown().isClean)
    }

    @Test func aBadDefinitionIsRefusedWithItsReason() async throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-bad-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: bad) }
        try Data(#"{"nodes":[{"id":"a","handler":"model_call","params":{"steps":0}}]}"#.utf8).write(to: bad)
        let (status, output) = try await runProcess(
            DemoProcess.binary, ["serve", "--dag", bad.path, "--port", "0", "--db", "/nonexistent/never-created.sqlite"])
        #expect(status == 64, "\(output)")
        #expect(output.contains("node 'a': handler 'model_call': \"steps\" must be an integer in 1...1000"), "\(output)")
        #expect(!output.contains("LISTENING"))
    }
}
