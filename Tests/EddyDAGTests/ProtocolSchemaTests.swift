import EddyTestSupport
import Foundation
import Testing

/// The golden fixtures are checked against docs/protocol.schema.json by an independent
/// validator (Python `jsonschema`, Draft 2020-12), so the schema, the fixtures and the
/// Swift codec cannot drift apart.
@Suite("Protocol JSON Schema")
struct ProtocolSchemaTests {
    @Test func fixturesMatchTheSchemaAndInvalidOnesDoNot() async throws {
        let (status, output) = try await runProcess(
            repositoryRoot.appendingPathComponent(".venv/bin/python"),
            [repositoryRoot.appendingPathComponent("Tests/Fixtures/check-protocol-schema.py").path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 failures"), "\(output)")
    }
}
