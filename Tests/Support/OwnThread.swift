public import Foundation

/// Runs blocking work (waiting for a child process, reading a pipe to its end) on a thread of
/// its own and returns its result.
///
/// Guarantee: the work never occupies one of Swift's cooperative threads. There are as many
/// of those as cores (two here), so two tests blocking them at once would starve every actor
/// and task of the process, including the engine the child process is waiting for.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `onOwnThread` for work that cannot fail.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// The repository's root directory.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs `executable` with `arguments` to completion and returns its exit status and its
/// output (stdout and stderr together), waiting on a thread of its own.
public func runProcess(_ executable: URL, _ arguments: [String]) async throws -> (Int32, String) {
    try await onOwnThread { () -> (Int32, String) in
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = ChildPipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        var output: [UInt8] = []
        while let chunk = readChunk(pipe.fileHandleForReading, upTo: 65_536) { output += chunk }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// Our environment with `changes` applied (a nil value removes the variable), for a child.
public func environment(with changes: [String: String?]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for (name, value) in changes { environment[name] = value }
    return environment
}

/// Where `swift build --build-tests` put the executables: beside the running test bundle
/// (so a sanitizer build under `--scratch-path .build-asan` runs its own instrumented `eddy`),
/// else `.build/debug`.
public let builtProductsDirectory: URL = {
    if let bundleDirectory = Bundle.main.executableURL?.deletingLastPathComponent(),
        FileManager.default.isExecutableFile(atPath: bundleDirectory.appendingPathComponent("eddy").path)
    {
        return bundleDirectory
    }
    return repositoryRoot.appendingPathComponent(".build/debug")
}()

/// The debug build of the `eddy` command, which `swift build --build-tests` makes.
public let eddyBinary = builtProductsDirectory.appendingPathComponent("eddy")

/// Starts `eddy` with `arguments` (a server started with `--port`) and `environment` (nil:
/// ours), waits for its first line, "LISTENING <port>", and returns the process and the port.
/// Its stderr is discarded. Throws (after killing it) when the first line is anything else.
public func startEddyServer(_ arguments: [String], environment: [String: String]? = nil) async throws -> (ChildProcess, Int) {
    let (process, port, _) = try await startListeningProcess(eddyBinary, arguments, environment: environment)
    return (process, port)
}

/// The debug build of the executable target `name` (an example), which `swift build --build-tests` makes.
public func builtExecutable(_ name: String) -> URL { builtProductsDirectory.appendingPathComponent(name) }

/// Starts `executable` with `arguments` and `environment` (nil: ours), waits for its first
/// line, "LISTENING <port>", and returns the process, the port and its stdout (the rest of
/// its output; keep it while the process runs). Its stderr goes to `standardError` (default:
/// discarded). Throws (after killing it) when the first line is anything else.
public func startListeningProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                                  standardError: FileHandle = FileHandle.nullDevice)
    async throws -> (ChildProcess, Int, ChildPipe)
{
    let process = ChildProcess()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    let stdout = ChildPipe()
    process.standardOutput = stdout
    process.standardError = standardError
    try process.run()
    let first = await onOwnThread { readLine(stdout.fileHandleForReading) }
    guard first.hasPrefix("LISTENING "), let port = Int(first.dropFirst("LISTENING ".count)) else {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw ChildProcessError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not start: \(first)")
    }
    return (process, port, stdout)
}

/// Runs `Tests/Peers/<script>` with the test venv's Python (see `runProcess`).
public func runPythonPeer(_ script: String, _ arguments: [String]) async throws -> (Int32, String) {
    try await runProcess(repositoryRoot.appendingPathComponent(".venv/bin/python"),
                         [repositoryRoot.appendingPathComponent("Tests/Peers/\(script)").path] + arguments)
}

/// Reads up to `count` bytes from `handle` with `read(2)`, retrying when a signal interrupts
/// it (the test process receives signals from the signal tests, and Foundation's own readers
/// trap on `EINTR`); nil at end of file or on an error.
public func readChunk(_ handle: FileHandle, upTo count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, count) }
        if n > 0 { return Array(buffer[..<n]) }
        if n < 0 && errno == EINTR { continue }
        return nil
    }
}

/// The next line (without its newline) from `handle`, or what was read before end of file.
public func readLine(_ handle: FileHandle) -> String {
    var bytes: [UInt8] = []
    while let byte = readChunk(handle, upTo: 1)?.first, byte != UInt8(ascii: "\n") { bytes.append(byte) }
    return String(decoding: bytes, as: UTF8.self)
}

/// A thread that reads a child's output until end of file and hands each chunk over
/// (in place of `readabilityHandler`/`availableData`, which trap on `EINTR`).
public final class OutputReader: Sendable {
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle, _ consume: @escaping @Sendable ([UInt8]) -> Void) {
        let done = self.done
        Thread {
            while let chunk = readChunk(handle, upTo: 65_536) { consume(chunk) }
            done.signal()
        }.start()
    }

    /// Blocks until end of file (call it through `onOwnThread`).
    public func waitUntilDone() {
        done.wait()
        done.signal()
    }
}
