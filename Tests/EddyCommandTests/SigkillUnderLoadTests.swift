import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// `CrashRestartTests` kills one server once, at a gate; this kills `eddy serve --repeat` over
/// and over at seeded random moments while runs pour events into the log (two model calls,
/// about 130 events a second) and a Swift and a Python dashboard follow the run in progress.
/// After each kill: `PRAGMA integrity_check` is ok and every run's seq is 1..max
/// (`eventlog_check.py`); then the server restarts on the same log and port, and both
/// dashboards reconnect by themselves and converge to the server's head of their run
/// (interrupted if the kill caught it live), with continuity. 3 kills in `make test`, 20 in
/// `make faults` (EDDY_CRASH_ITERATIONS overrides; EDDY_FAULT_SEED picks the moments).
@Suite("SIGKILL under load, many times", .serialized, .timeLimit(.minutes(10)))
struct SigkillUnderLoadTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["EDDY_CRASH_ITERATIONS"] ?? "")
        ?? (NetworkFaultTests.long ? 20 : 3)

    @Test func everyKillLeavesAnIntactLogAndDashboardsConverge() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        var random = SplitMix64(seed: NetworkFaultTests.seed)
        let dag = ServeCommandTests.fixtures.appendingPathComponent("busy.json").path
        let arguments = ["--dag", dag, "--repeat", "--pause", "0.05", "--keep-runs", "0"]
        var (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: arguments)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        let loop = try EventLoop()
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(50)
        backoff.cap = .milliseconds(300)
        var followed: [String] = []
        var outcomes: [String: Int] = [:]

        for iteration in 0..<Self.iterations {
            let runID = try #require(try await DemoCommandTests.newestRun(port: port, loop: loop))
            followed.append(runID)
            let url = "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream"
            let client = DAGStreamClient(url: url, token: "view", on: loop, backoff: backoff)
            let continuity = Continuity.record(client.events())
            let following = Task(executorPreference: loop) { await client.run() }
            let ready = log.directory.appendingPathComponent("python-ready-\(UUID().uuidString)").path
            async let python = runPythonPeer("dag_resync_dashboard.py", [url, "view", "60", ready])
            for _ in 0..<250 where client.state == nil { try await loop.sleep(for: .milliseconds(20)) }
            try await Convergence.waitUntilReady(ready)

            // A seeded random moment under load: kill -9, then the log as the crash left it.
            let moment = 100 + Int(random.next() % 2_400)
            try await loop.sleep(for: .milliseconds(moment))
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            let (crashedStatus, crashed) = try await Convergence.checkLog(log.path)
            #expect(crashedStatus == 0, "kill \(iteration) at \(moment) ms: \(crashed)")

            // Restart on the same log and port; the dashboards come back by themselves.
            (server, port) = try await DemoProcess.start(db: log.path, port: port, command: "serve", arguments: arguments)
            let restarted = ContinuousClock.now
            for _ in 0..<1500 where client.state?.isFinished != true { try await loop.sleep(for: .milliseconds(20)) }
            let convergeSeconds = ContinuousClock.now - restarted
            let (pythonStatus, pythonOutput) = try await python
            following.cancel()
            await following.value

            let (head, headObject) = try await Convergence.head(of: runID, port: port, loop: loop)
            guard case .snapshot(let headState) = head.event else { Issue.record("history is no snapshot"); continue }
            let state = try #require(client.state)
            #expect(state.isFinished && [.interrupted, .completed].contains(state.state.status), "kill \(iteration): \(state.state.status)")
            #expect(state.seq == head.seq && state.state == headState, "kill \(iteration): the Swift dashboard did not converge")
            let record = await continuity.value
            #expect(record.violations.isEmpty, "kill \(iteration): \(record.violations.prefix(5))")
            #expect(pythonStatus == 0, "kill \(iteration): \(pythonOutput.suffix(2000))")
            let final = try #require(Convergence.pythonFinal(pythonOutput), "\(pythonOutput.suffix(2000))")
            let differences = Convergence.differences(python: final, head: headObject)
            #expect(differences.isEmpty, "kill \(iteration): \(differences.prefix(5))")
            for counter in ["gaps", "duplicates", "backwards_snapshots"] { #expect((final[counter] as? Int) == 0, "\(counter): \(final)") }
            outcomes["\(state.state.status)", default: 0] += 1
            print("""
                KILL \(iteration) at=\(moment)ms run=\(runID) head_seq=\(head.seq) status=\(state.state.status) \
                swift_connections=\(client.connectionCount) swift_converged_after_restart=\(convergeSeconds) python_connections=\(final["connections"] ?? "") \
                python_replays=\(final["replays"] ?? "") log=\(crashed.split(separator: "\n").last ?? "")
                """)
        }

        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        let (finalStatus, finalCheck) = try await Convergence.checkLog(log.path, finished: followed)
        #expect(finalStatus == 0, "\(finalCheck)")
        print("KILLS \(Self.iterations) seed=\(NetworkFaultTests.seed) outcomes=\(outcomes) log=\(finalCheck)")
        #expect(await loop.shutdown().isClean)
    }
}
