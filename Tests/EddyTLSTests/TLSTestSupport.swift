import EddyLoop
import EddyNet
import EddyTLS
import EddyTestSupport
import Foundation
import EddyShared
import Testing

extension TestCertificates {
    /// A server configuration presenting `identity` (default: `server`).
    func serverConfiguration(_ identity: Identity? = nil) -> TLSConfiguration {
        let identity = identity ?? server
        return .server(certificateChain: .file(identity.certificate), privateKey: .file(identity.key))
    }

    /// A client configuration trusting the test CA.
    var clientConfiguration: TLSConfiguration { .client(trustRoots: .certificates(.file(ca))) }
}

extension TestCertificates.Identity {
    var chain: TLSConfiguration.PEMSource { .file(certificate) }
    var privateKey: TLSConfiguration.PEMSource { .file(key) }
}

/// An Eddy TLS echo server on a `TLSListener`: echoes every stream until its end, and
/// records how each stream ended and every failed handshake.
final class EchoServer: Sendable {
    let group: EventLoopGroup
    let listener: TLSListener
    /// Holds this server for the listener's failure callback: a cycle that `stop()` breaks.
    private let sink: FailureSink
    private let serving = Mutex<Task<Void, any Error>?>(nil)
    /// Failed handshakes, in order.
    let handshakeFailures = Mutex<[any Error]>([])
    /// How served streams ended: nil for a clean end (close_notify), else the read error.
    let endings = Mutex<[String?]>([])
    /// Sessions of the streams served.
    let sessions = Mutex<[TLSSession]>([])

    var port: Int { listener.localAddress.port }
    var failureDescriptions: [String] { handshakeFailures.withLock { $0.map { "\($0)" } } }

    private init(group: EventLoopGroup, listener: TLSListener, sink: FailureSink) {
        self.group = group
        self.listener = listener
        self.sink = sink
    }

    static func start(_ configuration: TLSConfiguration, oneLine: Bool = false) async throws -> EchoServer {
        try await start(context: try TLSContext(configuration), oneLine: oneLine)
    }

    /// With `oneLine`, each stream is answered "echo: <first line>" and closed (for
    /// `openssl s_client`, which stops sending at the end of its input without a
    /// close_notify and then waits for the server's).
    static func start(context: TLSContext, oneLine: Bool = false) async throws -> EchoServer {
        let group = try EventLoopGroup(loopCount: 2)
        let sink = FailureSink()
        let listener = try await TLSListener.bind(host: "127.0.0.1", port: 0, context: context, group: group,
                                                  onHandshakeFailure: { sink.record($0) })
        let server = EchoServer(group: group, listener: listener, sink: sink)
        sink.server.withLock { $0 = server }
        let task = Task(executorPreference: listener.eventLoop) {
            try await listener.serve { stream in
                if let session = stream.session { server.sessions.withLock { $0.append(session) } }
                do {
                    if oneLine {
                        var line: [UInt8] = []
                        while !line.contains(UInt8(ascii: "\n")), let chunk = try await stream.read() { line += chunk }
                        try await stream.write(Array("echo: ".utf8) + line)
                        return
                    }
                    while let chunk = try await stream.read() { try await stream.write(chunk) }
                    server.endings.withLock { $0.append(nil) }
                } catch {
                    server.endings.withLock { $0.append("\(error)") }
                }
            }
        }
        server.serving.withLock { $0 = task }
        return server
    }

    /// Stops serving; true when every loop shut down cleanly.
    func stop() async -> Bool {
        await listener.close()
        let task = serving.withLock { $0 }
        task?.cancel()
        _ = try? await task?.value
        // The serving task and the failure sink hold this server: let it go (LeakSanitizer).
        serving.withLock { $0 = nil }
        sink.server.withLock { $0 = nil }
        return await group.shutdown().allSatisfy { $0.isClean }
    }
}

/// Lets the listener's failure callback reach the server made after it.
final class FailureSink: Sendable {
    let server = Mutex<EchoServer?>(nil)
    func record(_ error: any Error) {
        server.withLock { $0 }?.handshakeFailures.withLock { $0.append(error) }
    }
}

/// The test peers' directory and the venv's Python.
enum Peers {
    static let python = repositoryRoot.appendingPathComponent(".venv/bin/python")
    static let script = repositoryRoot.appendingPathComponent("Tests/Peers/tls_peer.py").path

    /// Runs the Python TLS client and returns its JSON line.
    static func pythonClient(_ arguments: [String], mode: String = "client") async throws -> [String: Any] {
        let (status, output) = try await runProcess(python, [script, mode] + arguments)
        guard status == 0, let line = output.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw ChildProcessError("python client exited \(status): \(output)") }
        return object
    }
}

/// Runs `executable` with `input` on its standard input (then closed) and returns its
/// status and output (stdout and stderr together), waiting on a thread of its own.
func runProcess(_ executable: String, _ arguments: [String], input: [UInt8]) async throws -> (Int32, String) {
    try await onOwnThread { () -> (Int32, String) in
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = ChildPipe()
        let output = ChildPipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try stdin.fileHandleForWriting.write(contentsOf: Data(input))
        stdin.closeWritingEnd()
        var bytes: [UInt8] = []
        while let chunk = readChunk(output.fileHandleForReading, upTo: 65_536) { bytes += chunk }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: bytes, as: UTF8.self))
    }
}

/// A deterministic payload of `count` bytes.
func payload(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) } }

/// Every TLS suite, one test at a time: each starts servers, clients and peer processes
/// (openssl, Python) and makes handshakes, and run all at once they took enough CPU from
/// the rest of the package's tests, on two cores, to push their timing-sensitive peers
/// past their waits.
@Suite("EddyTLS", .serialized)
struct TLSTests {}
