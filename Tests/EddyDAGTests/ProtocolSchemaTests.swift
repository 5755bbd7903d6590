import EddyTestSupport
import Foundation
import Testing

/// The golden fixtures are checked against docs/protocol.schema.json by an independent
/// validator (Python `jsonschema`, Draft 2020-12), so the schema, the fixtures and the
/// Swift codec cannot drift apart.
@Suite("Protocol JSON Schema")
struct ProtocolSchemaTests {
    @Test func fixturesMatchTheSchemaAndInvalidOnesDoNot() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (status, output) = try await onOwnThread { () -> (Int32, String) in
            let process = Process()
            process.executableURL = root.appendingPathComponent(".venv/bin/python")
            process.arguments = [root.appendingPathComponent("Tests/Fixtures/check-protocol-schema.py").path]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 failures"), "\(output)")
    }
}
