import EddyLoop
import EddyNet
import EddyTestSupport
import Foundation
import Testing

/// `eddy dag-load`, the DAG stream's end-to-end load generator, run as users run it against
/// `eddy serve`: the operator token from the environment, sent in an `Authorization` header
/// (never in a URL, never needed on the command line), over `ws://` and `wss://`.
@Suite("eddy dag-load: the token in a header, over ws:// and wss://", .timeLimit(.minutes(2)))
struct DAGLoadCommandTests {
    /// A gate, then a ticker: 50 events in one second once the gate is approved.
    static let tickerDAG = #"{"nodes":[{"id":"start","gate":{"presentation":{"title":"go"}}},"#
        + #"{"id":"tick","depends_on":["start"],"handler":"ticker","params":{"rate":50,"seconds":1}}]}"#

    @Test(arguments: [false, true])
    func followsARunToItsEndWithTheTokenFromTheEnvironment(overTLS: Bool) async throws {
        let certificates = try await TestCertificates.shared.value
        let log = try ScratchLog()
        defer { log.remove() }
        let dag = log.directory.appendingPathComponent("ticker.json")
        try Data(Self.tickerDAG.utf8).write(to: dag)
        let tls = overTLS ? ["--tls-cert", certificates.server.certificate, "--tls-key", certificates.server.key] : []
        let (server, port) = try await startEddyServer(["serve", "--dag", dag.path, "--port", "0", "--db", log.path] + tls,
                                                       environment: DemoProcess.tokens)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let url = "\(overTLS ? "wss" : "ws")://localhost:\(port)"
        let run = try await runEddy(["dag-load", url, "--dashboards", "3", "--loops", "1", "--timeout", "50"]
                                        + (overTLS ? ["--ca", certificates.ca] : []),
                                    environmentChanges: ["EDDY_OPERATOR_TOKEN": "op"])
        #expect(run.status == 0, "\(run)")
        // The ticker's 50 events reach every dashboard in order (a dashboard whose snapshot
        // came after the first event counts one fewer: the snapshot holds it).
        #expect(run.stdout.hasPrefix("RESULT ") && run.stdout.contains(" dashboards=3 finished=3 "), "\(run)")
        #expect(run.stdout.contains(" per_dashboard_max=50 ") && run.stdout.contains(" catch_ups=0 gaps=0"), "\(run)")
        #expect(!run.stderr.contains("warning"), "\(run)")
        server.terminate()
        server.waitUntilExit()
    }

    @Test func theTokenGoesInAHeaderAndARefusalIsReportedAsTheServerSaidIt() async throws {
        // A stand-in server that records the listing request and refuses it.
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let listener = try await TCPListener.bind(host: "127.0.0.1", port: 0, group: group)
        let request = Task(executorPreference: loop) { () -> String in
            var connections = listener.connections.makeAsyncIterator()
            guard let connection = try await connections.next() else { return "" }
            var head: [UInt8] = []
            while !head.reversed().starts(with: Array("\r\n\r\n".utf8.reversed())), head.count < 65_536,
                  let chunk = try await connection.read() {
                head += chunk
            }
            try await connection.write(Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            await connection.close()
            return String(decoding: head, as: UTF8.self)
        }
        let run = try await runEddy(["dag-load", "ws://127.0.0.1:\(listener.localAddress.port)"],
                                    environmentChanges: ["EDDY_OPERATOR_TOKEN": "secret-token-1"])
        // The request was served by now; a dag-load that never connected ends the accept loop.
        await listener.close()
        let head = try await request.value
        #expect(head.hasPrefix("GET /api/dags HTTP/1.1\r\n"), "\(head)")
        #expect(head.contains("\r\nAuthorization: Bearer secret-token-1\r\n"), "\(head)")
        #expect(run.status != 0, "\(run)")
        #expect(run.stderr.contains("HTTP/1.1 401 Unauthorized") && run.stderr.contains("is the operator token right?"), "\(run)")
        #expect(!run.stdout.contains("secret-token-1") && !run.stderr.contains("secret-token-1"), "\(run)")
        #expect(!run.stderr.contains("Usage:"), "a refusal is not a usage error: \(run)")
        await group.shutdown()
    }

    @Test func withoutATokenItSaysWhereToPutOne() async throws {
        let run = try await runEddy(["dag-load", "ws://127.0.0.1:9"], environmentChanges: ["EDDY_OPERATOR_TOKEN": nil])
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("set EDDY_OPERATOR_TOKEN"), "\(run)")
        let spaced = try await runEddy(["dag-load", "ws://127.0.0.1:9"], environmentChanges: ["EDDY_OPERATOR_TOKEN": "two words"])
        #expect(spaced.status == 64 && spaced.stderr.contains("visible ASCII"), "\(spaced)")
    }
}
