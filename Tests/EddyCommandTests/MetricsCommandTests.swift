import EddyTestSupport
import Foundation
import Testing

/// `eddy demo`'s Prometheus metrics, scraped by a real HTTP client (Python urllib, parsed with
/// `prometheus_client.parser`) while a Python `websockets` dashboard drives the server: the
/// operator token guards `/metrics` on the main port, `--metrics-port` serves it without one,
/// and `--no-metrics` takes it away.
@Suite("eddy demo: metrics at /metrics", .timeLimit(.minutes(2)))
struct MetricsCommandTests {
    @Test func metricsAreGuardedByTheOperatorTokenAndMoveAsADashboardWorks() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (demo, port, stdout) = try await startListeningProcess(
            eddyBinary, ["demo", "--port", "0", "--db", log.path, "--gate-timeout", "600", "--metrics-port", "0"],
            environment: DemoProcess.tokens)
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        let second = await onOwnThread { readLine(stdout.fileHandleForReading) }
        let metricsPort = try #require(second.hasPrefix("METRICS ") ? Int(second.dropFirst("METRICS ".count)) : nil, "\(second)")
        #expect(metricsPort != port)

        let (status, output) = try await runPythonPeer("metrics_scrape.py", ["scrape", String(port), String(metricsPort), "op", "view"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 failed"), "\(output)")
        await stop(demo)
    }

    @Test func noMetricsServesNoEndpoint() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (demo, port) = try await DemoProcess.start(db: log.path, arguments: ["--gate-timeout", "600", "--no-metrics"])
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        let (status, output) = try await runPythonPeer("metrics_scrape.py", ["absent", String(port), "op"])
        #expect(status == 0, "\(output)")
        await stop(demo)
    }

    /// SIGTERM, and a bounded wait for the orderly exit.
    private func stop(_ demo: ChildProcess) async {
        demo.terminate()
        for _ in 0..<100 where demo.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        #expect(!demo.isRunning, "eddy demo did not exit within 10 s of SIGTERM")
        if demo.isRunning { kill(demo.processIdentifier, SIGKILL) }
        demo.waitUntilExit()
        #expect(demo.terminationStatus == 0)
    }
}
