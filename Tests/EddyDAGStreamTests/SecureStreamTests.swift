import EddyTestSupport
import EddyDAG
import EddyDAGServer
import EddyDAGStream
import EddyLoop
import EddyTLS
import Foundation
import Testing

/// The DAG stream server over TLS and its Swift client over `wss://`.
@Suite("DAGStreamServer over TLS", .timeLimit(.minutes(3)))
struct SecureStreamTests {
    @Test func theSwiftClientFollowsAndDrivesARunOverWSS() async throws {
        let certificates = try await TestCertificates.shared.value
        let log = try ScratchLog()
        defer { log.remove() }
        var configuration = DAGStreamServerConfiguration(operatorToken: "op", viewerToken: "view")
        configuration.host = "localhost"
        configuration.port = 0
        configuration.databasePath = log.path
        configuration.loopCount = 2
        configuration.tls = try TLSContext(.server(certificateChain: .file(certificates.server.certificate),
                                                   privateKey: .file(certificates.server.key)))
        let server = try await DAGStreamServer(configuration: configuration)
        #expect(server.baseURL == "https://localhost:\(server.port)")

        var builder = DAGBuilder()
        builder.task("hello") { _ in "world" }
        builder.gate("review", after: ["hello"], presentation: ["title": "Ship it?"])
        builder.task("ship", after: ["review"]) { _ in "shipped" }
        let runID = try await server.engine.start(try builder.build())
        let url = server.streamURL(runID: runID)
        #expect(url.hasPrefix("wss://localhost:"))

        let loop = try EventLoop()
        let trust = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        let client = DAGStreamClient(url: url, token: "op", on: loop, tls: trust)
        let running = Task(executorPreference: loop) { await client.run() }
        for _ in 0..<500 where client.state?.node("review")?.status != .waitingHuman { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state?.node("review")?.status == .waitingHuman)
        let result = try await client.send(ClientCommand(commandID: "c-1", action: .humanDecision(.init(nodeID: "review", decision: .approve))))
        #expect(result.status == .accepted)
        #expect(await server.engine.waitForCompletion(runID: runID) == .completed)
        let serverState = try server.engine.state(runID: runID)
        for _ in 0..<500 where client.state != serverState { try await loop.sleep(for: .milliseconds(10)) }
        #expect(client.state == serverState)

        // Without the test CA the client cannot connect: it never gets a state.
        let untrusting = DAGStreamClient(url: url, token: "op", on: loop)
        let refused = Task(executorPreference: loop) { await untrusting.run() }
        try await loop.sleep(for: .milliseconds(300))
        #expect(untrusting.state == nil && untrusting.connectionCount == 0)
        refused.cancel()
        await refused.value

        running.cancel()
        await running.value
        #expect(await server.shutdown().allSatisfy { $0.isClean })
        #expect(await loop.shutdown().isClean)
    }
}
