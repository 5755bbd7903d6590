import EddyTestSupport
import Foundation
import Testing

/// The default connection limit follows the process's open-file limit, so a flood of
/// connections meets a clean 503, never `EMFILE`, and the server serves again after it.
@Suite("eddy: the default connection limit", .timeLimit(.minutes(2)))
struct ConnectionLimitCommandTests {
    @Test func underAnOpenFileLimitOf128AFloodOf150Gets503AndTheServerServesAfterIt() async throws {
        // 128 descriptors: the default limit is 128 - 64 = 64 connections.
        let (process, port, _) = try await startListeningProcess(
            URL(fileURLWithPath: "/usr/bin/prlimit"), ["--nofile=128:128", eddyBinary.path, "echo", "--port", "0", "--loops", "1"])
        defer { process.terminate(); process.waitUntilExit() }
        let (status, output) = try await runPythonPeer("connection_flood.py", ["\(port)", "150"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("held 64"), "\(output)")
        #expect(output.contains("refused 86 HTTP/1.1 503 Service Unavailable"), "\(output)")
        #expect(output.contains("healthz HTTP/1.1 200 OK"), "\(output)")
    }
}
