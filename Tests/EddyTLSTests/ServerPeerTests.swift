import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import Foundation
import Testing

extension TLSTests {
    /// Eddy's TLS server against real clients: `openssl s_client` and Python's `ssl`.
    @Suite("TLS server against openssl s_client and Python ssl", .timeLimit(.minutes(2)))
    struct ServerPeerTests {
        @Test func opensslClientVerifiesAndGetsTheEcho() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration(), oneLine: true)
            // -ign_eof: s_client keeps reading after its input ends, until the server's
            // close_notify (sent when the handler returns).
            let (status, output) = try await runProcess("/usr/bin/openssl", [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", certificates.ca,
                "-verify_return_error", "-verify_hostname", "localhost", "-servername", "localhost", "-brief", "-ign_eof",
            ], input: Array("hello over tls\n".utf8))
            #expect(status == 0, "\(output)")
            #expect(output.contains("Verification: OK"), "\(output)")
            #expect(output.contains("TLSv1.3"), "\(output)")
            #expect(output.contains("echo: hello over tls"), "\(output)")
            #expect(server.failureDescriptions.isEmpty)
            #expect(await server.stop())
        }

        /// Certificates and keys from memory: the chain (leaf, then the CA) is sent whole.
        @Test func chainAndKeyFromMemoryAreServedWhole() async throws {
            let certificates = try await TestCertificates.shared.value
            let leaf = try String(contentsOfFile: certificates.server.certificate, encoding: .utf8)
            let ca = try String(contentsOfFile: certificates.ca, encoding: .utf8)
            let key = try String(contentsOfFile: certificates.server.key, encoding: .utf8)
            let server = try await EchoServer.start(.server(certificateChain: .pem(leaf + ca), privateKey: .pem(key)), oneLine: true)
            let (status, output) = try await runProcess("/usr/bin/openssl", [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", certificates.ca, "-verify_return_error",
                "-showcerts", "-ign_eof",
            ], input: Array("from memory\n".utf8))
            #expect(status == 0, "\(output)")
            #expect(output.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 == 2, "\(output)")
            #expect(output.contains("echo: from memory"), "\(output)")
            // Trust roots from memory, on the client side.
            let loop = try EventLoop()
            let client = try TLSContext(.client(trustRoots: .certificates(.pem(ca))))
            #expect(try await FailureTests.echo("trusted from memory\n", port: server.port, context: client, on: loop)
                == "echo: trusted from memory\n")
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }

        @Test func pythonClientEchoesALargePayloadAndClosesCleanly() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let result = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca, "--size", "3000000"])
            #expect(result["ok"] as? Bool == true, "\(result)")
            #expect(result["echoed"] as? Bool == true, "\(result)")
            #expect(result["version"] as? String == "TLSv1.3")
            #expect(result["subject"] as? String == "localhost")
            // The client ended with close_notify: a clean end on the server.
            let endings = server.endings.withLock { $0 }
            #expect(endings.count == 1 && endings.first == .some(nil), "\(endings)")
            #expect(await server.stop())
        }

        @Test func pythonClientWithoutCloseNotifyIsReportedAsTruncation() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let result = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca, "--truncate", "--size", "1000"])
            #expect(result["echoed"] as? Bool == true, "\(result)")
            let ending = try await eventually { server.endings.withLock { $0.first } }
            #expect(ending??.contains("truncated") == true, "\(String(describing: ending))")
            #expect(ending??.contains("unexpected eof") == true, "\(String(describing: ending))")
            #expect(await server.stop())
        }

        @Test func tls12IsAcceptedAndTLS11Refused() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration(), oneLine: true)
            let (status, output) = try await runProcess("/usr/bin/openssl", [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", certificates.ca, "-tls1_2", "-brief", "-ign_eof",
            ], input: Array("twelve\n".utf8))
            #expect(status == 0, "\(output)")
            #expect(output.contains("TLSv1.2") && output.contains("echo: twelve"), "\(output)")
            let (refused, refusal) = try await runProcess("/usr/bin/openssl", [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1", "-brief",
            ], input: [])
            #expect(refused != 0, "\(refusal)")
            let failure = try await eventually { server.failureDescriptions.first }
            #expect(failure?.contains("unsupported protocol") == true, "\(String(describing: failure))")
            #expect(await server.stop())
        }

        @Test func alpnSelectsTheServersFirstProtocolTheClientOffers() async throws {
            let certificates = try await TestCertificates.shared.value
            var configuration = certificates.serverConfiguration()
            configuration.applicationProtocols = ["h2", "http/1.1"]
            let server = try await EchoServer.start(configuration)
            let chosen = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca,
                                                       "--size", "10", "--alpn", "http/1.1", "h2"])
            #expect(chosen["alpn"] as? String == "h2", "\(chosen)")
            let second = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca,
                                                       "--size", "10", "--alpn", "http/1.1"])
            #expect(second["alpn"] as? String == "http/1.1", "\(second)")
            #expect(server.sessions.withLock { $0.map(\.applicationProtocol) } == ["h2", "http/1.1"])
            // No protocol in common: refused with no_application_protocol, and the server goes on.
            let refused = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca,
                                                        "--size", "10", "--alpn", "spdy/1"])
            #expect(refused["ok"] as? Bool == false, "\(refused)")
            #expect((refused["error"] as? String)?.contains("no application protocol") == true, "\(refused)")
            let after = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca, "--size", "10"])
            #expect(after["echoed"] as? Bool == true, "\(after)")
            #expect(await server.stop())
        }

        @Test func sniChoosesTheNamedCertificate() async throws {
            let certificates = try await TestCertificates.shared.value
            var configuration = certificates.serverConfiguration()
            configuration.namedCertificates = [.init(serverName: "other.example", certificateChain: certificates.otherName.chain,
                                                     privateKey: certificates.otherName.privateKey)]
            let server = try await EchoServer.start(configuration)
            let named = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca,
                                                      "--servername", "other.example", "--size", "10"])
            #expect(named["subject"] as? String == "other.example", "\(named)")
            let plain = try await Peers.pythonClient(["127.0.0.1", String(server.port), "--ca", certificates.ca,
                                                      "--servername", "localhost", "--size", "10"])
            #expect(plain["subject"] as? String == "localhost", "\(plain)")
            #expect(server.sessions.withLock { $0.map(\.serverName) } == ["other.example", "localhost"])
            #expect(await server.stop())
        }
    }
}

/// Polls `read` (every 10 ms, for at most 10 s) until it returns non-nil.
func eventually<T>(_ read: () -> T?) async throws -> T? {
    for _ in 0..<1000 {
        if let value = read() { return value }
        try await Task.sleep(for: .milliseconds(10))
    }
    return nil
}
