import EddyDAG
import EddyDAGStream
import EddyLoop
import EddyTestSupport
import EddyWebSocket
import Foundation
import Testing

/// Dashboards (the Swift `DAGStreamClient` and a Python peer) follow a busy run of `eddy serve`
/// through `fault_proxy.py` while it delays, throttles, stalls, cuts and takes the link down;
/// then the run is cancelled on a direct connection. Every dashboard must end with the server's
/// head state and seq, with continuity (see `Continuity`), and the log must check out.
/// Correctness only: no timing is asserted (the figures are printed for the record).
/// `make test` runs the short faults; `make faults` (EDDY_FAULTS=long) adds a 30 s stall and a
/// 30 s link-down.
@Suite("Network faults between the server and its dashboards", .serialized, .timeLimit(.minutes(6)))
struct NetworkFaultTests {
    static let long = ProcessInfo.processInfo.environment["EDDY_FAULTS"] == "long"
    static let seed = UInt64(ProcessInfo.processInfo.environment["EDDY_FAULT_SEED"] ?? "") ?? 18

    /// With the server's keepalive lowered (a ping a second, 1.5 s to answer), the 5 s stall
    /// is noticed by the server, which drops the silent connections (1011): each dashboard
    /// then reconnects after the stall, the cut and the link-down at least.
    @Test func dashboardsConvergeThroughDelayStallCutAndLinkDown() async throws {
        try await Self.follow(through: ["delay 40 30", "wait 1", "rate 16384", "wait 1", "clear", "stall 5", "wait 1",
                                        "cut", "wait 1", "down 3", "wait 1"],
                              server: Self.quickKeepAlive, reconnects: 3)
    }

    /// A ping every second, 1.5 s to answer it.
    static let quickKeepAlive = ["--ping-interval", "1", "--pong-timeout", "1.5"]

    /// The server keeps its production keepalive (20 s + 20 s); the dashboards' own keepalive
    /// (Swift: a ping every 2 s, 3 s to answer; Python the same) notices the 30 s stall.
    @Test(.enabled(if: long)) func dashboardsConvergeThroughAThirtySecondStallAndLinkDown() async throws {
        try await Self.follow(through: ["delay 200 150", "wait 3", "rate 4096", "wait 3", "clear", "stall 30", "wait 2",
                                        "cut", "wait 2", "down 30", "wait 2"],
                              clientKeepAlive: WebSocketKeepAliveConfiguration(pingInterval: .seconds(2), pongTimeout: .seconds(3)),
                              reconnects: 3)
    }

    /// The scenario: `faults` are proxy commands, or `wait S` (seconds of normal traffic).
    /// `server`: more arguments for `eddy serve`; `clientKeepAlive`: the Swift dashboard's;
    /// `reconnects`: how many times each dashboard must have reconnected at least.
    static func follow(through faults: [String], server arguments: [String] = [],
                       clientKeepAlive: WebSocketKeepAliveConfiguration = WebSocketKeepAliveConfiguration(),
                       reconnects: Int) async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let dag = ServeCommandTests.fixtures.appendingPathComponent("faults.json").path
        let (server, port) = try await DemoProcess.start(db: log.path, command: "serve", arguments: ["--dag", dag] + arguments)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        let loop = try EventLoop()
        let runID = try #require(try await DemoCommandTests.newestRun(port: port, loop: loop))
        let proxy = try await FaultProxy.start(target: port, seed: seed)
        defer { proxy.stop() }

        let url = "ws://127.0.0.1:\(proxy.port)/api/dags/\(runID)/stream"
        var backoff = DAGStreamClient.Backoff()
        backoff.base = .milliseconds(100)
        backoff.cap = .seconds(1)
        let client = DAGStreamClient(url: url, token: "view", on: loop, backoff: backoff, keepAlive: clientKeepAlive)
        let continuity = Continuity.record(client.events())
        let following = Task(executorPreference: loop) { await client.run() }
        let ready = log.directory.appendingPathComponent("python-ready-\(UUID().uuidString)").path
        async let python = runPythonPeer("dag_resync_dashboard.py", [url, "view", long ? "240" : "90", ready])
        for _ in 0..<250 where client.state == nil { try await loop.sleep(for: .milliseconds(20)) }
        try await Convergence.waitUntilReady(ready)
        #expect(client.state != nil, "no first snapshot through the proxy")

        let started = ContinuousClock.now
        for fault in faults {
            if fault.hasPrefix("wait "), let seconds = Int(fault.dropFirst(5)) {
                try await loop.sleep(for: .seconds(seconds))
            } else {
                #expect(try await proxy.send(fault) == "OK \(fault)")
            }
        }
        let faultSeconds = ContinuousClock.now - started

        // The end of the run, decided on a direct connection.
        let direct = DAGStreamClient(url: "ws://127.0.0.1:\(port)/api/dags/\(runID)/stream", token: "op", on: loop)
        let steering = Task(executorPreference: loop) { await direct.run() }
        for _ in 0..<250 where direct.state == nil { try await loop.sleep(for: .milliseconds(20)) }
        let cancelled = try await direct.send(ClientCommand(commandID: "faults-cancel", action: .cancelExecution))
        #expect(cancelled.status == .accepted, "\(cancelled)")
        let ending = ContinuousClock.now
        for _ in 0..<1500 where client.state?.isFinished != true { try await loop.sleep(for: .milliseconds(20)) }
        let convergeSeconds = ContinuousClock.now - ending
        let (pythonStatus, pythonOutput) = try await python
        following.cancel()
        steering.cancel()
        await following.value
        await steering.value

        // The Swift dashboard: the server's head, with continuity.
        let (head, headObject) = try await Convergence.head(of: runID, port: port, loop: loop)
        guard case .snapshot(let headState) = head.event else { Issue.record("history is no snapshot"); return }
        let state = try #require(client.state)
        #expect(state.isFinished && state.state.status == .cancelled)
        #expect(state.seq == head.seq)
        #expect(state.state == headState, "the Swift dashboard did not converge")
        let record = await continuity.value
        #expect(record.violations.isEmpty, "\(record.violations.prefix(5))")

        // The Python dashboard: the same state, with continuity.
        #expect(pythonStatus == 0, "\(pythonOutput.suffix(2000))")
        let final = try #require(Convergence.pythonFinal(pythonOutput), "\(pythonOutput.suffix(2000))")
        #expect(Convergence.differences(python: final, head: headObject).isEmpty,
                "\(Convergence.differences(python: final, head: headObject).prefix(5))")
        for counter in ["gaps", "duplicates", "backwards_snapshots"] { #expect((final[counter] as? Int) == 0, "\(counter): \(final)") }
        #expect(client.connectionCount >= 1 + reconnects && (final["connections"] as? Int ?? 0) >= 1 + reconnects,
                "connections: Swift \(client.connectionCount), Python \(final["connections"] ?? "")")

        let stats = try await proxy.send("stats")
        print("""
            FAULTS seed=\(seed) faults=\(faults.joined(separator: ",")) fault_time=\(faultSeconds) head_seq=\(head.seq) \
            swift: connections=\(client.connectionCount) snapshots=\(record.snapshots) events=\(record.events) \
            converged_after_cancel=\(convergeSeconds); python: connections=\(final["connections"] ?? "") \
            snapshots=\(final["snapshots"] ?? "") events=\(final["events"] ?? "") replays=\(final["replays"] ?? ""); proxy: \(stats)
            """)

        // The log, once the server has stopped: intact, contiguous, the run finished.
        server.terminate()
        server.waitUntilExit()
        let (checkStatus, checkOutput) = try await Convergence.checkLog(log.path, finished: [runID])
        #expect(checkStatus == 0, "\(checkOutput)")
        #expect(await loop.shutdown().isClean)
    }
}
