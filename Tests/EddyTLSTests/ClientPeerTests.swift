import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import Foundation
import Testing

extension TLSTests {
    /// Eddy's TLS client against real servers: `openssl s_server` and Python's `ssl`.
    @Suite("TLS client against openssl s_server and Python ssl", .timeLimit(.minutes(2)))
    struct ClientPeerTests {
        /// Starts a server process and waits for the line starting with `prefix` that ends
        /// with its port (`ACCEPT 127.0.0.1:41423`, `LISTENING 41423`).
        static func startServer(_ executable: String, _ arguments: [String], announcedBy prefix: String) async throws -> (ChildProcess, Int, ChildPipe) {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let stdout = ChildPipe()
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            let port = await onOwnThread { () -> Int? in
                for _ in 0..<20 {
                    let line = readLine(stdout.fileHandleForReading)
                    if line.hasPrefix(prefix) {
                        return line.split(whereSeparator: { $0 == ":" || $0 == " " }).last.flatMap { Int($0) }
                    }
                    if line.isEmpty { return nil }
                }
                return nil
            }
            guard let port else {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw ChildProcessError("\(executable) did not announce its port")
            }
            return (process, port, stdout)
        }

        @Test func eddyClientAgainstOpensslServerWithALPN() async throws {
            let certificates = try await TestCertificates.shared.value
            let (process, port, stdout) = try await Self.startServer("/usr/bin/openssl", [
                "s_server", "-accept", "127.0.0.1:0", "-cert", certificates.server.certificate, "-key", certificates.server.key,
                "-rev", "-naccept", "1", "-alpn", "http/1.1",
            ], announcedBy: "ACCEPT")
            defer { if process.isRunning { process.terminate() } }
            let loop = try EventLoop()
            var configuration = certificates.clientConfiguration
            configuration.applicationProtocols = ["h2", "http/1.1"]
            let stream = try await TLSStream.connect(host: "localhost", port: port, configuration: configuration, on: loop)
            #expect(stream.session?.applicationProtocol == "http/1.1")
            #expect(stream.session?.protocolVersion == "TLSv1.3")
            #expect(stream.session?.peerCertificateSubject == "/CN=localhost")
            // -rev answers each line reversed.
            let answer = try await Task(executorPreference: loop) { () -> String in
                try await stream.write(Array("abcdef\n".utf8))
                var received: [UInt8] = []
                while !received.contains(UInt8(ascii: "\n")), let chunk = try await stream.read() { received += chunk }
                await stream.close()
                return String(decoding: received, as: UTF8.self)
            }.value
            #expect(answer.contains("fedcba"), "\(answer)")
            _ = stdout
            #expect(await loop.shutdown().isClean)
        }

        @Test func eddyClientAgainstPythonServerEndsCleanlyOnCloseNotify() async throws {
            let certificates = try await TestCertificates.shared.value
            let (process, port, stdout) = try await Self.startServer(Peers.python.path, [
                Peers.script, "server", "--cert", certificates.server.certificate, "--key", certificates.server.key,
            ], announcedBy: "LISTENING")
            defer { if process.isRunning { process.terminate() } }
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: port, configuration: certificates.clientConfiguration, on: loop)
            let data = payload(2_000_000)
            let echoed = try await Task(executorPreference: loop) { () -> [UInt8] in
                // Write and read at once: neither side may wait for the other to drain.
                let writer = Task(executorPreference: loop) {
                    try await stream.write(data)
                    try await stream.shutdownWrite() // close_notify; Python answers with its own
                }
                var received: [UInt8] = []
                while let chunk = try await stream.read() { received += chunk }
                try await writer.value
                await stream.close()
                return received
            }.value
            #expect(echoed == data)
            let rest = await onOwnThread { readLine(stdout.fileHandleForReading) }
            #expect(rest == "DONE", "\(rest)")
            #expect(await loop.shutdown().isClean)
        }

        @Test func serverClosingWithoutCloseNotifyIsATruncationError() async throws {
            let certificates = try await TestCertificates.shared.value
            let (process, port, _) = try await Self.startServer(Peers.python.path, [
                Peers.script, "server", "--cert", certificates.server.certificate, "--key", certificates.server.key, "--truncate",
            ], announcedBy: "LISTENING")
            defer { if process.isRunning { process.terminate() } }
            let loop = try EventLoop()
            let stream = try await TLSStream.connect(host: "127.0.0.1", port: port, configuration: certificates.clientConfiguration, on: loop)
            let (received, error) = await Task(executorPreference: loop) { () -> ([UInt8], (any Error)?) in
                var received: [UInt8] = []
                do {
                    try await stream.write(Array("ping".utf8))
                    while let chunk = try await stream.read() { received += chunk }
                    return (received, nil)
                } catch {
                    return (received, error)
                }
            }.value
            await stream.close()
            // Everything sent before the cut arrives; then the cut is an error, not an end.
            #expect(String(decoding: received, as: UTF8.self) == "pingbye")
            let tlsError = try #require(error as? TLSError, "\(String(describing: error))")
            #expect(tlsError.code == .truncated)
            #expect(tlsError.description.contains("unexpected eof while reading"), "\(tlsError)")
            #expect(await loop.shutdown().isClean)
        }

        @Test func systemTrustStoreRefusesTheTestCA() async throws {
            let certificates = try await TestCertificates.shared.value
            let server = try await EchoServer.start(certificates.serverConfiguration())
            let loop = try EventLoop()
            // The default configuration: the system's roots, which do not include the test CA.
            let error = await FailureTests.failure(port: server.port, context: try TLSContext(.client()), on: loop)
            #expect((error as? TLSError)?.code == .certificateRejected, "\(String(describing: error))")
            #expect(await loop.shutdown().isClean)
            #expect(await server.stop())
        }
    }
}
