import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import EddyWebSocket
import Foundation
import Testing

/// `--tls-cert FILE --tls-key FILE` on the server commands, run as users run them: the
/// built binary, real clients over TLS.
@Suite("eddy echo and eddy demo over TLS", .timeLimit(.minutes(2)))
struct TLSCommandTests {
    @Test func echoServesWSSToPythonWebsockets() async throws {
        let certificates = try await TestCertificates.shared.value
        let (process, port) = try await startEddyServer(["echo", "--port", "0",
                                                         "--tls-cert", certificates.server.certificate,
                                                         "--tls-key", certificates.server.key])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let (status, output) = try await runPythonPeer("wss_client.py", ["wss://localhost:\(port)", certificates.ca])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAIL") && output.contains("PASS clean close"), "\(output)")
        // eddy bench over wss://: with the CA every round trip works; without it (the
        // system's roots) the connection is refused and counted as an error.
        let (benchStatus, bench) = try await runProcess(eddyBinary, ["bench", "wss://localhost:\(port)/", "--ca", certificates.ca,
                                                                     "--connections", "2", "--duration", "2", "--warmup", "0"])
        #expect(benchStatus == 0 && bench.contains("errors=0") && !bench.contains("messages=0 "), "\(bench)")
        let (_, refused) = try await runProcess(eddyBinary, ["bench", "wss://localhost:\(port)/",
                                                             "--connections", "1", "--duration", "0.2", "--warmup", "0"])
        #expect(refused.contains("errors=1"), "\(refused)")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// SIGHUP re-reads the certificate files: new connections get the renewed certificate,
    /// the server lives on (also through a quick second SIGHUP and a broken renewal).
    @Test(arguments: ["echo", "demo"])
    func hangUpReloadsTheCertificate(command: String) async throws {
        let certificates = try await TestCertificates.shared.value
        let directory = certificates.directory.appendingPathComponent("cli-reload-\(command)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        func install(_ identity: TestCertificates.Identity) throws {
            for (source, target) in [(identity.certificate, certificate), (identity.key, key)] {
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: source, toPath: target)
            }
        }
        try install(certificates.server)
        let log = try ScratchLog()
        defer { log.remove() }
        let (process, port) = command == "echo"
            ? try await startEddyServer(["echo", "--port", "0", "--tls-cert", certificate, "--tls-key", key])
            : try await DemoProcess.start(db: log.path, arguments: ["--tls-cert", certificate, "--tls-key", key])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let client = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        func subject() async throws -> String? {
            let stream = try await TLSStream.connect(host: "localhost", port: port, context: client, on: loop)
            let subject = stream.session?.peerCertificateSubject
            await stream.close()
            return subject
        }
        #expect(try await subject() == "/CN=localhost")
        try install(certificates.renewed)
        #expect(kill(process.processIdentifier, SIGHUP) == 0)
        #expect(kill(process.processIdentifier, SIGHUP) == 0)
        var seen = try await subject()
        for _ in 0..<200 where seen != "/CN=renewed" {
            try await loop.sleep(for: .milliseconds(25))
            seen = try await subject()
        }
        #expect(seen == "/CN=renewed")
        // A broken renewal is refused; the server keeps the renewed certificate.
        try "not a certificate".write(toFile: certificate, atomically: true, encoding: .utf8)
        #expect(kill(process.processIdentifier, SIGHUP) == 0)
        try await loop.sleep(for: .milliseconds(200))
        #expect(process.isRunning)
        #expect(try await subject() == "/CN=renewed")
        process.terminate()
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(await loop.shutdown().isClean)
    }

    @Test func unusableCertificateFlagsAreRefusedWithTheReason() async throws {
        let certificates = try await TestCertificates.shared.value
        let (alone, aloneOutput) = try await runProcess(eddyBinary, ["echo", "--port", "0", "--tls-cert", certificates.server.certificate])
        #expect(alone != 0)
        #expect(aloneOutput.contains("--tls-cert and --tls-key go together"), "\(aloneOutput)")
        let (missing, missingOutput) = try await runProcess(eddyBinary, ["echo", "--port", "0", "--tls-cert", "/nonexistent/cert.pem",
                                                                         "--tls-key", certificates.server.key])
        #expect(missing != 0)
        #expect(missingOutput.contains("/nonexistent/cert.pem"), "\(missingOutput)")
        let (mismatch, mismatchOutput) = try await runProcess(eddyBinary, ["echo", "--port", "0", "--tls-cert", certificates.server.certificate,
                                                                           "--tls-key", certificates.client.key])
        #expect(mismatch != 0)
        #expect(mismatchOutput.contains("key values mismatch"), "\(mismatchOutput)")
    }

    @Test func demoServesTheDashboardOverHTTPSAndStreamsOverWSS() async throws {
        let certificates = try await TestCertificates.shared.value
        let log = try ScratchLog()
        defer { log.remove() }
        let (demo, port) = try await DemoProcess.start(db: log.path, arguments: [
            "--gate-timeout", "600", "--tls-cert", certificates.server.certificate, "--tls-key", certificates.server.key,
        ])
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        let loop = try EventLoop()
        let client = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        let page = try await Self.httpsGet("/", port: port, context: client, loop: loop)
        #expect(page.hasPrefix("HTTP/1.1 200"), "\(page.prefix(200))")
        #expect(page.contains("<html") || page.contains("<!doctype html") || page.contains("<!DOCTYPE html"))
        var runID: String?
        for _ in 0..<100 where runID == nil {
            let listing = try await Self.httpsGet("/api/dags?token=view", port: port, context: client, loop: loop)
            if let range = listing.range(of: #""dag_id":""#, options: .backwards) {
                runID = String(listing[range.upperBound...].prefix { $0 != "\"" })
            } else {
                try await loop.sleep(for: .milliseconds(50))
            }
        }
        let run = try #require(runID)
        var configuration = WebSocketClientConfiguration()
        configuration.tls = client
        let socket = try await WebSocket.connect(to: "wss://localhost:\(port)/api/dags/\(run)/stream?token=view",
                                                 configuration: configuration, on: loop)
        let snapshot = try await Task(executorPreference: loop) { () -> Bool in
            for try await message in socket.messages {
                if case .text(let text) = message, text.contains(#""type":"snapshot""#) { return true }
            }
            return false
        }.value
        #expect(snapshot)
        await socket.close()
        // eddy watch over wss:// with the test CA prints the run's snapshot.
        let watch = ChildProcess()
        watch.executableURL = eddyBinary
        watch.arguments = ["watch", "wss://localhost:\(port)/api/dags/\(run)/stream", "--ca", certificates.ca]
        watch.environment = environment(with: ["EDDY_VIEWER_TOKEN": "view"])
        let watchOutput = ChildPipe()
        watch.standardOutput = watchOutput
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        let firstLine = await onOwnThread { readLine(watchOutput.fileHandleForReading) }
        watch.terminate()
        watch.waitUntilExit()
        #expect(firstLine.contains("snapshot"), "\(firstLine)")
        // Plain HTTP on the TLS port is refused; the server goes on serving.
        let plain = try? await httpGet("/healthz", port: port, loop: loop)
        #expect(plain?.hasPrefix("HTTP/1.1 200") != true)
        let health = try await Self.httpsGet("/healthz", port: port, context: client, loop: loop)
        #expect(health.hasPrefix("HTTP/1.1 200"), "\(health)")
        demo.terminate()
        for _ in 0..<100 where demo.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        demo.waitUntilExit()
        #expect(demo.terminationStatus == 0)
        #expect(await loop.shutdown().isClean)
    }

    /// One HTTPS GET (Connection: close); the whole response as text.
    static func httpsGet(_ path: String, port: Int, context: TLSContext, loop: EventLoop) async throws -> String {
        let stream = try await TLSStream.connect(host: "localhost", port: port, context: context, on: loop)
        return try await Task(executorPreference: loop) { () -> String in
            try await stream.write(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
            var response: [UInt8] = []
            while let chunk = try await stream.read() { response += chunk }
            await stream.close()
            return String(decoding: response, as: UTF8.self)
        }.value
    }
}
