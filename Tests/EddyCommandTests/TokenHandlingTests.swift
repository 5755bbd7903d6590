import EddyLoop
import EddyTestSupport
import Foundation
import EddyShared
import Testing

/// How `eddy serve` / `eddy demo` take and show their tokens: from the environment (the
/// documented way), from flags (still accepted, with a warning on stderr: a command line is
/// readable by every local user), or generated; printed only when stdout is a terminal,
/// otherwise generated ones are written to `<db>.tokens` (mode 0600) for the operator.
@Suite("eddy serve: tokens on the command line, in the environment and in the banner", .timeLimit(.minutes(2)))
struct TokenHandlingTests {
    /// Our environment without any token variable, plus `tokens`.
    static func environment(_ tokens: [String: String] = [:]) -> [String: String] {
        EddyTestSupport.environment(with: ["EDDY_OPERATOR_TOKEN": nil, "EDDY_VIEWER_TOKEN": nil]).merging(tokens) { $1 }
    }

    @Test func environmentTokensAreNotPrintedWhenStdoutIsNotATerminal() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (op, view) = ("op-\(UUID().uuidString)", "view-\(UUID().uuidString)")
        let run = try await ServerRun.start(db: log.path, environment: Self.environment(["EDDY_OPERATOR_TOKEN": op, "EDDY_VIEWER_TOKEN": view])) { server in
            for token in [op, view] {
                let status = try await server.status(of: "/api/dags?token=\(token)")
                #expect(status == 200, "\(token)")
            }
            #expect(!FileManager.default.fileExists(atPath: server.tokenFile), "nothing was generated, nothing written")
            #expect(server.banner.contains("dashboard: http://127.0.0.1:\(server.port)/   (add #token=<operator token>)"), "\(server.banner)")
        }
        #expect(run.served, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.hasPrefix("LISTENING "), "\(run.stdout)")
        #expect(!run.stdout.contains(op) && !run.stdout.contains(view), "\(run.stdout)")
        #expect(run.stdout.contains("operator token: from $EDDY_OPERATOR_TOKEN"), "\(run.stdout)")
        #expect(run.stdout.contains("viewer token:   from $EDDY_VIEWER_TOKEN"), "\(run.stdout)")
        #expect(!run.stderr.contains("warning"), "\(run.stderr)")
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func tokenFlagsStillWorkButWarnOnStderr() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (op, view) = ("op-\(UUID().uuidString)", "view-\(UUID().uuidString)")
        let run = try await ServerRun.start(["--operator-token", op, "--viewer-token", view], db: log.path, environment: Self.environment()) { server in
            for token in [op, view] {
                let status = try await server.status(of: "/api/dags?token=\(token)")
                #expect(status == 200, "\(token)")
            }
        }
        #expect(run.served, "\(run.stdout) \(run.stderr)")
        for (flag, variable) in [("--operator-token", "EDDY_OPERATOR_TOKEN"), ("--viewer-token", "EDDY_VIEWER_TOKEN")] {
            #expect(run.stderr.contains("warning: \(flag) puts the token on the command line, which every local user can read"), "\(run.stderr)")
            #expect(run.stderr.contains("set \(variable) in the environment instead"), "\(run.stderr)")
            #expect(run.stdout.contains("from \(flag)"), "\(run.stdout)")
        }
        #expect(!run.stdout.contains(op) && !run.stdout.contains(view), "\(run.stdout)")
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func generatedTokensGoToAPrivateFileWhenStdoutIsNotATerminal() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let tokenFile = log.path + ".tokens"
        let written = Mutex<[String: String]>([:])
        let run = try await ServerRun.start(db: log.path, environment: Self.environment()) { server in
            var information = stat()
            #expect(stat(tokenFile, &information) == 0, "\(tokenFile) was not written")
            #expect(information.st_mode & 0o777 == 0o600, "mode \(String(information.st_mode & 0o777, radix: 8))")
            let text = (try? String(contentsOfFile: tokenFile, encoding: .utf8)) ?? ""
            var tokens: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { tokens[String(parts[0])] = String(parts[1]) }
            }
            written.withLock { $0 = tokens }
            #expect(Set(tokens.keys) == ["EDDY_OPERATOR_TOKEN", "EDDY_VIEWER_TOKEN"], "\(text)")
            for token in tokens.values {
                #expect(token.count == 32 && token.allSatisfy(\.isHexDigit), "\(token)")
                let status = try await server.status(of: "/api/dags?token=\(token)")
                #expect(status == 200, "/api/dags?token=\(token)")
            }
        }
        let tokens = written.withLock { $0 }
        #expect(tokens.count == 2)
        for token in tokens.values { #expect(!run.stdout.contains(token) && !run.stderr.contains(token), "\(run.stdout)") }
        #expect(run.served, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("operator token: generated, written to \(tokenFile) (mode 0600)"), "\(run.stdout)")
        #expect(run.stdout.contains("viewer token:   generated, written to \(tokenFile) (mode 0600)"), "\(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: tokenFile), "the server removes the file when it stops")
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func onATerminalTheBannerCarriesTheDashboardAddressWithTheToken() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let (op, view) = ("op-\(UUID().uuidString)", "view-\(UUID().uuidString)")
        let run = try await ServerRun.start(db: log.path, environment: Self.environment(["EDDY_OPERATOR_TOKEN": op, "EDDY_VIEWER_TOKEN": view]),
                                            onTerminal: true) { server in
            #expect(server.banner.contains("dashboard: http://127.0.0.1:\(server.port)/#token=\(op)\n"), "\(server.banner)")
            #expect(server.banner.contains("runs:      http://127.0.0.1:\(server.port)/api/dags?token=\(view)\n"), "\(server.banner)")
            #expect(!FileManager.default.fileExists(atPath: server.tokenFile))
        }
        #expect(run.served, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.hasPrefix("LISTENING "), "\(run.stdout)")
        #expect(run.stdout.contains("operator token: \(op)   (may approve, pause, resume, cancel; from $EDDY_OPERATOR_TOKEN)"), "\(run.stdout)")
        #expect(run.stdout.contains("viewer token:   \(view)   (read only; from $EDDY_VIEWER_TOKEN)"), "\(run.stdout)")
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func anEmptyTokenIsRefused() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let run = try await ServerRun.start(db: log.path, environment: Self.environment(["EDDY_OPERATOR_TOKEN": ""]))
        #expect(run.status == 64, "\(run.stdout) \(run.stderr)")
        #expect(run.stderr.contains("$EDDY_OPERATOR_TOKEN is empty"), "\(run.stderr)")
        #expect(!run.stdout.contains("LISTENING") && !run.served)
    }
}

/// A server started by `ServerRun.start`, while it runs.
struct RunningServer {
    let port: Int
    let banner: String
    let tokenFile: String
    let loop: EventLoop
    let pid: pid_t

    /// The HTTP status of a GET.
    func status(of path: String) async throws -> Int? {
        let response = try await httpGet(path, port: port, loop: loop)
        return Int(response.split(separator: " ").dropFirst().first ?? "")
    }
}

/// `eddy serve --dag quick.json` on `db`, its stdout on a pipe or a pseudo-terminal: reads the
/// banner (to "Stop with Ctrl-C."), runs `whileRunning`, stops the server with SIGTERM and
/// collects stdout so far, all of stderr and the exit status. Bounded: the server is killed
/// after 90 s whatever happens.
struct ServerRun {
    let stdout: String
    let stderr: String
    let status: Int32
    /// Whether the server came up and `whileRunning` ran.
    let served: Bool

    static func start(_ arguments: [String] = [], db: String, environment: [String: String], onTerminal: Bool = false,
                      whileRunning: (RunningServer) async throws -> Void = { _ in }) async throws -> ServerRun {
        let process = ChildProcess()
        process.executableURL = eddyBinary
        process.arguments = ["serve", "--dag", ServeCommandTests.fixtures.appendingPathComponent("quick.json").path,
                             "--port", "0", "--db", db] + arguments
        process.environment = environment
        let errors = ChildPipe()
        process.standardError = errors
        let terminal = onTerminal ? try PseudoTerminal() : nil
        let pipe = onTerminal ? nil : ChildPipe()
        process.standardOutput = terminal?.terminal ?? pipe
        guard let output = terminal?.controller ?? pipe?.fileHandleForReading else { throw ChildProcessError("no stdout") }
        try process.run()
        terminal?.closeTerminal()
        let errorBytes = Mutex<[UInt8]>([])
        let errorReader = OutputReader(errors.fileHandleForReading) { chunk in errorBytes.withLock { $0 += chunk } }
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: .seconds(90)) // within the suite's 2-minute limit, for a loaded machine
            if process.isRunning { kill(pid, SIGKILL) }
        }
        defer { watchdog.cancel() }

        // A terminal writes "\r\n"; the banner is returned with "\n".
        let banner = await onOwnThread { () -> String in
            var bytes: [UInt8] = []
            while !String(decoding: bytes, as: UTF8.self).contains("Stop with Ctrl-C."), let chunk = readChunk(output, upTo: 4096) {
                bytes += chunk
            }
            return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        }
        var failure: (any Error)?
        var served = false
        if let port = Int(banner.prefix { $0 != "\n" }.dropFirst("LISTENING ".count)), banner.contains("Stop with Ctrl-C.") {
            let loop = try EventLoop()
            let running = RunningServer(port: port, banner: banner, tokenFile: db + ".tokens", loop: loop, pid: pid)
            do { try await whileRunning(running) } catch { failure = error }
            served = true
            _ = await loop.shutdown()
        }
        process.terminate()
        await onOwnThread { process.waitUntilExit() }
        await onOwnThread { errorReader.waitUntilDone() }
        terminal?.closeController()
        if let failure { throw failure }
        return ServerRun(stdout: banner, stderr: errorBytes.withLock { String(decoding: $0, as: UTF8.self) },
                         status: process.terminationStatus, served: served)
    }
}
