import EddyTestSupport
import Foundation

/// `Tests/Peers/fault_proxy.py` as a child process: a TCP proxy on loopback between the
/// dashboards and a server, whose faults (delay and jitter, throttle, stall, cut, link down)
/// are commanded one line at a time on its stdin.
final class FaultProxy: Sendable {
    let process: ChildProcess
    /// The port dashboards connect to.
    let port: Int
    private let commands: ChildPipe
    private let answers: ChildPipe

    private init(process: ChildProcess, port: Int, commands: ChildPipe, answers: ChildPipe) {
        self.process = process
        self.port = port
        self.commands = commands
        self.answers = answers
    }

    /// Starts a proxy to 127.0.0.1:`target` with the jitter drawn from `seed`.
    static func start(target: Int, seed: UInt64) async throws -> FaultProxy {
        let process = ChildProcess()
        process.executableURL = repositoryRoot.appendingPathComponent(".venv/bin/python")
        process.arguments = [repositoryRoot.appendingPathComponent("Tests/Peers/fault_proxy.py").path, String(target)]
        process.environment = environment(with: ["EDDY_FAULT_SEED": String(seed)])
        let commands = ChildPipe()
        let answers = ChildPipe()
        process.standardInput = commands
        process.standardOutput = answers
        try process.run()
        let first = await onOwnThread { readLine(answers.fileHandleForReading) }
        guard first.hasPrefix("PROXY "), let port = Int(first.dropFirst("PROXY ".count)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ChildProcessError("fault_proxy.py did not start: \(first)")
        }
        return FaultProxy(process: process, port: port, commands: commands, answers: answers)
    }

    /// Sends one command (see fault_proxy.py) and returns its answer, which comes once the
    /// fault is in force (for `stall` and `down`: once it is over).
    @discardableResult
    func send(_ command: String) async throws -> String {
        let handle = commands.fileHandleForWriting
        let answers = self.answers
        return try await onOwnThread { () -> String in
            let line = Array((command + "\n").utf8)
            let written = line.withUnsafeBytes { write(handle.fileDescriptor, $0.baseAddress, $0.count) }
            guard written == line.count else { throw ChildProcessError("fault_proxy.py: cannot send \(command)") }
            return readLine(answers.fileHandleForReading)
        }
    }

    /// Ends the proxy (SIGKILL to its PID, then reaps it).
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
