import EddyTestSupport
import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyNet
import Foundation
import Testing

/// `eddy demo` killed with SIGKILL mid-run and restarted on the same SQLite file: the
/// reconnecting client follows it across the crash, finished history is still served, and
/// the run that was live is reported as interrupted, never silently lost.
@Suite("Crash and restart of the stream server", .timeLimit(.minutes(2)))
struct CrashRestartTests {
    @Test func aKilledServerRestartsOnItsLogAndTheClientFollows() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let db = log.path

        let (first, port) = try await DemoProcess.start(db: db)
        let loop = try EventLoop()
        let runID = try #require(try await DemoCommandTests.newestRun(port: port, loop: loop))
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(50)
        backoff.cap = .milliseconds(300)
        let client = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "view", on: loop, backoff: backoff)
        let running = Task(executorPreference: loop) { await client.run() }

        // Mid-run (the gate waits 600 s): kill -9.
        for _ in 0..<300 where client.state?.node("review")?.status != .waitingHuman { try await loop.sleep(for: .milliseconds(20)) }
        #expect(client.state?.node("review")?.status == .waitingHuman)
        let seqBeforeCrash = client.state?.seq ?? 0
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()

        // Restart on the same database and port; the client reconnects by itself.
        let (second, _) = try await DemoProcess.start(db: db, port: port)
        defer { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() }
        for _ in 0..<500 where client.state?.isFinished != true { try await loop.sleep(for: .milliseconds(20)) }
        let state = try #require(client.state)
        #expect(state.isFinished)
        #expect(state.state.status == .interrupted)      // reported, not lost
        #expect(state.seq > seqBeforeCrash)                // resynced past the crash
        #expect(client.connectionCount >= 2)
        #expect(state.node("review")?.status == .cancelled)

        // Finished history is still served: the listing has the old run, finished.
        let listing = try await DemoCommandTests.listing(port: port, loop: loop)
        #expect(listing.contains("\"dag_id\":\"\(runID)\",\"finished\":true,\"status\":\"interrupted\""), "\(listing)")

        running.cancel()
        await running.value
        #expect(await loop.shutdown().isClean)
    }
}
