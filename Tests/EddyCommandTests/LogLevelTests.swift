import EddyTestSupport
import Foundation
import Testing

/// `--log-level`: validated, and quiet by default (no `info` line at the default level).
@Suite("eddy: --log-level", .timeLimit(.minutes(3)))
struct LogLevelTests {
    @Test func anUnknownLevelIsRefusedWithTheChoices() async throws {
        let (status, output) = try await runProcess(eddyBinary, ["echo", "--port", "0", "--log-level", "loud"])
        #expect(status != 0)
        #expect(output.contains("unknown --log-level 'loud'") && output.contains("notice"), "\(output)")
    }

    @Test func theDefaultLevelLogsNoInfoLinesThroughAStartAndAStop() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let stderrPath = log.directory.appendingPathComponent("stderr.log").path
        #expect(FileManager.default.createFile(atPath: stderrPath, contents: nil))
        let stderr = try #require(FileHandle(forWritingAtPath: stderrPath))
        let (echo, _, output) = try await startListeningProcess(eddyBinary, ["echo", "--port", "0"], standardError: stderr)
        defer { if echo.isRunning { kill(echo.processIdentifier, SIGKILL) } }
        try stderr.close()
        echo.terminate()
        for _ in 0..<100 where echo.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!echo.isRunning, "eddy echo did not exit within 10 s of SIGTERM")
        if echo.isRunning { kill(echo.processIdentifier, SIGKILL) }
        echo.waitUntilExit()
        withExtendedLifetime(output) {}
        #expect(echo.terminationStatus == 0)
        let lines = (try String(contentsOfFile: stderrPath, encoding: .utf8)).split(separator: "\n")
        let infoLines = lines.filter { $0.contains(" info ") || $0.contains(" debug ") }
        #expect(infoLines.isEmpty, "\(lines)")
        #expect(lines.contains { $0.contains("notice") && $0.contains("shutdown: requested") }, "\(lines)")
    }
}
