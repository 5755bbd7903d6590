import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// A real link cut, not a proxy: `eddy serve` runs in a network namespace joined to ours by a
/// veth pair (`Tests/Faults/netns_link.sh`), the dashboards (Swift and Python) follow a busy
/// run over it, and the link is throttled (tbf) and then taken down (`ip link set … down`:
/// packets dropped both ways, connections left open, as a pulled cable). Once it is up again
/// the run is cancelled and both dashboards must converge to the server's head, with
/// continuity. Needs root and iproute2 (skipped otherwise); 5 s down in `make test`, 30 s in
/// `make faults`. The namespace is removed at the end, whatever happens.
@Suite("A real link cut between namespaces", .serialized, .timeLimit(.minutes(6)),
       .enabled(if: VethLink.available, "needs root, ip netns and veth"))
struct LinkCutTests {
    @Test func dashboardsConvergeAcrossARealLinkCut() async throws {
        let seconds = NetworkFaultTests.long ? 30 : 5
        VethLink.runNow(["delete", VethLink.number])
        #expect(await VethLink.run(["create", VethLink.number]) == 0)
        defer { VethLink.runNow(["delete", VethLink.number]) }
        let host = "10.231.\(VethLink.number).2"
        let log = try ScratchLog()
        defer { log.remove() }
        let dag = ServeCommandTests.fixtures.appendingPathComponent("faults.json").path
        let (server, port, _) = try await startListeningProcess(
            URL(fileURLWithPath: "/usr/sbin/ip"),
            ["netns", "exec", "eddy-faults-\(VethLink.number)", eddyBinary.path, "serve", "--host", host, "--port", "0",
             "--db", log.path, "--dag", dag] + (NetworkFaultTests.long ? [] : NetworkFaultTests.quickKeepAlive),
            environment: DemoProcess.tokens)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        let loop = try EventLoop()
        let runID = try #require(try await Self.newestRun(host: host, port: port, loop: loop))

        let url = "ws://\(host):\(port)/api/dags/\(runID)/stream"
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(100)
        backoff.cap = .seconds(1)
        let client = DAGStreamClient(url: url, token: "view", on: loop, backoff: backoff)
        let continuity = Continuity.record(client.events())
        let following = Task(executorPreference: loop) { await client.run() }
        let ready = log.directory.appendingPathComponent("python-ready-\(UUID().uuidString)").path
        async let python = runPythonPeer("dag_resync_dashboard.py", [url, "view", NetworkFaultTests.long ? "180" : "90", ready])
        for _ in 0..<250 where client.state == nil { try await loop.sleep(for: .milliseconds(20)) }
        try await Convergence.waitUntilReady(ready)
        #expect(client.state != nil, "no first snapshot over the veth link")

        // Throttled, then cut, then up again.
        #expect(await VethLink.run(["throttle", VethLink.number, "256kbit"]) == 0)
        try await loop.sleep(for: .seconds(2))
        #expect(await VethLink.run(["unthrottle", VethLink.number]) == 0)
        let seqBeforeCut = client.state?.seq ?? 0
        #expect(await VethLink.run(["down", VethLink.number]) == 0)
        try await loop.sleep(for: .seconds(seconds))
        #expect(await VethLink.run(["up", VethLink.number]) == 0)
        try await loop.sleep(for: .seconds(2))

        let direct = DAGStreamClient(url: url, token: "op", on: loop, backoff: backoff)
        let steering = Task(executorPreference: loop) { await direct.run() }
        for _ in 0..<500 where direct.state == nil { try await loop.sleep(for: .milliseconds(20)) }
        let cancelled = try await direct.send(ClientCommand(commandID: "link-cut-cancel", action: .cancelExecution))
        #expect(cancelled.status == .accepted, "\(cancelled)")
        for _ in 0..<1500 where client.state?.isFinished != true { try await loop.sleep(for: .milliseconds(20)) }
        let (pythonStatus, pythonOutput) = try await python
        following.cancel()
        steering.cancel()
        await following.value
        await steering.value

        let (head, headObject) = try await Convergence.head(of: runID, host: host, port: port, loop: loop)
        guard case .snapshot(let headState) = head.event else { Issue.record("history is no snapshot"); return }
        let state = try #require(client.state)
        #expect(state.isFinished && state.state.status == .cancelled && state.seq > seqBeforeCut)
        #expect(state.seq == head.seq && state.state == headState, "the Swift dashboard did not converge")
        let record = await continuity.value
        #expect(record.violations.isEmpty, "\(record.violations.prefix(5))")
        #expect(pythonStatus == 0, "\(pythonOutput.suffix(2000))")
        let final = try #require(Convergence.pythonFinal(pythonOutput), "\(pythonOutput.suffix(2000))")
        let differences = Convergence.differences(python: final, head: headObject)
        #expect(differences.isEmpty, "\(differences.prefix(5))")
        for counter in ["gaps", "duplicates", "backwards_snapshots"] { #expect((final[counter] as? Int) == 0, "\(counter): \(final)") }
        // With the quick keepalive the server dropped the silent connection during the cut:
        // the Swift dashboard (whose own keepalive is 20 s) could only finish on a new one.
        if !NetworkFaultTests.long { #expect(client.connectionCount >= 2) }
        print("""
            LINKCUT down=\(seconds)s head_seq=\(head.seq) seq_before_cut=\(seqBeforeCut) swift: connections=\(client.connectionCount) \
            snapshots=\(record.snapshots) events=\(record.events); python: connections=\(final["connections"] ?? "") \
            snapshots=\(final["snapshots"] ?? "") replays=\(final["replays"] ?? "")
            """)

        server.terminate()
        server.waitUntilExit()
        let (checkStatus, checkOutput) = try await Convergence.checkLog(log.path, finished: [runID])
        #expect(checkStatus == 0, "\(checkOutput)")
        #expect(await loop.shutdown().isClean)
    }

    static func newestRun(host: String, port: Int, loop: EventLoop) async throws -> String? {
        for _ in 0..<100 {
            let text = try await Convergence.get("/api/dags?token=view", host: host, port: port, loop: loop)
            if let range = text.range(of: #""dag_id":""#, options: .backwards) {
                return String(text[range.upperBound...].prefix { $0 != "\"" })
            }
            try await loop.sleep(for: .milliseconds(50))
        }
        return nil
    }
}

/// `Tests/Faults/netns_link.sh` for one test process: namespace `eddy-faults-<number>`, whose
/// server side is 10.231.<number>.2.
enum VethLink {
    static let script = repositoryRoot.appendingPathComponent("Tests/Faults/netns_link.sh").path
    static let available = runNow(["check"]) == 0
    /// Our namespace number: 1…40 from our PID (netns_link.sh check probes 50 and up).
    static let number = String(getpid() % 40 + 1)

    /// Runs netns_link.sh with `arguments`, blocking (setup and cleanup); its exit status.
    @discardableResult
    static func runNow(_ arguments: [String]) -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func run(_ arguments: [String]) async -> Int32 { await onOwnThread { runNow(arguments) } }
}
