import CSpawn
public import Foundation
import EddyShared

/// A child process for tests, started with `posix_spawn`: the part of Foundation's `Process`
/// the tests use, without its `run()`.
///
/// Why: on Linux, `Process.run()` lists `/proc/self/fd` with a `dirent` copy that reads up to
/// 256 bytes past short records, and crashes the whole test process when such a record ends
/// glibc's buffer at an unmapped page (swift-corelibs-foundation #5472, unfixed in Swift
/// 6.3.1). The more descriptors are open (a rooms test holds 10,000 sockets), the likelier;
/// it took down about one full run in fifteen here.
///
/// Guarantees: the child gets the given standard streams and no other descriptor of ours
/// (all from 3 up are closed in it, as `Process` does); its signal
/// dispositions and mask are reset to the defaults (the test process ignores SIGPIPE); it is
/// reaped exactly once, whichever of `isRunning`, `waitUntilExit` gets there first.
public final class ChildProcess: @unchecked Sendable {
    public enum TerminationReason: Sendable, Equatable { case exit, uncaughtSignal }

    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's whole environment; nil: ours.
    public var environment: [String: String]?
    /// A `ChildPipe`, `FileHandle.nullDevice`, another `FileHandle` (its descriptor, e.g. a
    /// terminal), or nil (inherit ours).
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    public private(set) var processIdentifier: Int32 = 0
    private let reaped = Mutex<Int32?>(nil)

    public init() {}

    public func run() throws {
        guard let path = executableURL?.path else { throw ChildProcessError("no executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        try redirect(standardInput, to: 0, reading: true, &actions)
        try redirect(standardOutput, to: 1, reading: false, &actions)
        try redirect(standardError, to: 2, reading: false, &actions)
        // Nothing else of ours: sockets or pipes a child kept open would hold them open past
        // our close (a reset never sent, an end of file never seen).
        eddy_test_spawn_closefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status: Int32
        if let environment {
            let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { for pointer in envp { free(pointer) } }
            status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        } else {
            status = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        }
        guard status == 0 else { throw ChildProcessError("posix_spawn \(path): \(String(cString: strerror(status)))") }
        processIdentifier = pid
        // Our copies of the child's ends: without closing them, reading a pipe to its end
        // would wait for ourselves.
        (standardInput as? ChildPipe)?.closeReadingEnd()
        (standardOutput as? ChildPipe)?.closeWritingEnd()
        (standardError as? ChildPipe)?.closeWritingEnd()
    }

    private func redirect(_ stream: Any?, to target: Int32, reading: Bool, _ actions: inout posix_spawn_file_actions_t) throws {
        switch stream {
        case nil:
            return
        case let pipe as ChildPipe:
            posix_spawn_file_actions_adddup2(&actions, reading ? pipe.readingDescriptor : pipe.writingDescriptor, target)
        case let handle as FileHandle where handle === FileHandle.nullDevice:
            posix_spawn_file_actions_addopen(&actions, target, "/dev/null", reading ? O_RDONLY : O_WRONLY, 0)
        case let handle as FileHandle:
            posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, target)
        default:
            throw ChildProcessError("unsupported standard stream \(type(of: stream))")
        }
    }

    /// Whether the child has not exited yet (reaps it if it has).
    public var isRunning: Bool { reap(blocking: false) == nil }

    public func waitUntilExit() { _ = reap(blocking: true) }

    /// The exit code, or the signal that ended the child.
    public var terminationStatus: Int32 {
        guard let status = reap(blocking: true) else { return -1 }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    public var terminationReason: TerminationReason {
        guard let status = reap(blocking: true) else { return .exit }
        return status & 0x7F == 0 ? .exit : .uncaughtSignal
    }

    /// SIGTERM.
    public func terminate() { if processIdentifier > 0 && isRunning { kill(processIdentifier, SIGTERM) } }

    /// The raw wait status once the child has been reaped; nil while it runs.
    private func reap(blocking: Bool) -> Int32? {
        if let status = reaped.withLock({ $0 }) { return status }
        guard processIdentifier > 0 else { return nil }
        var status: Int32 = 0
        while true {
            let result = waitpid(processIdentifier, &status, blocking ? 0 : WNOHANG)
            if result == processIdentifier {
                reaped.withLock { if $0 == nil { $0 = status } }
                return reaped.withLock { $0 }
            }
            if result == 0 { return nil }
            if errno == EINTR { continue }
            // ECHILD: another thread reaped it; its status is stored or about to be.
            for _ in 0..<10_000 {
                if let stored = reaped.withLock({ $0 }) { return stored }
                usleep(1_000)
            }
            return nil
        }
    }
}

/// A one-way channel (a pipe for our purposes) whose two ends are close-on-exec from the start, so that no other child process
/// inherits them (a child gets the end `ChildProcess` duplicates onto its standard stream).
public final class ChildPipe: @unchecked Sendable {
    public let fileHandleForReading: FileHandle
    public let fileHandleForWriting: FileHandle
    let readingDescriptor: Int32
    let writingDescriptor: Int32
    private let closed = Mutex<(reading: Bool, writing: Bool)>((false, false))

    public init() {
        // A socket pair rather than pipe(2): it is created close-on-exec atomically
        // (pipe2 is not visible from Swift here), so a child spawned by another thread at the
        // same moment cannot inherit it. One direction of it is used, like a pipe.
        var descriptors: [Int32] = [-1, -1]
        let status = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &descriptors)
        precondition(status == 0, "socketpair failed: \(errno)") // tests only
        readingDescriptor = descriptors[0]
        writingDescriptor = descriptors[1]
        fileHandleForReading = FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: false)
        fileHandleForWriting = FileHandle(fileDescriptor: descriptors[1], closeOnDealloc: false)
    }

    deinit {
        closeReadingEnd()
        closeWritingEnd()
    }

    /// Closes our reading end (once).
    public func closeReadingEnd() {
        if closed.withLock({ state in defer { state.reading = true }; return !state.reading }) { close(readingDescriptor) }
    }

    /// Closes our writing end (once): the reader then sees end of file.
    public func closeWritingEnd() {
        if closed.withLock({ state in defer { state.writing = true }; return !state.writing }) { close(writingDescriptor) }
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A pseudo-terminal for a child's standard stream (`terminal`), read through `controller`,
/// as a terminal emulator would: the child's `isatty` is true.
public final class PseudoTerminal: @unchecked Sendable {
    /// Give this to `ChildProcess.standardOutput` (or input, or error).
    public let terminal: FileHandle
    /// Read the child's output here (the terminal turns "\n" into "\r\n").
    public let controller: FileHandle
    private let closed = Mutex<(controller: Bool, terminal: Bool)>((false, false))

    public init() throws {
        var controllerDescriptor: Int32 = -1
        var terminalDescriptor: Int32 = -1
        guard eddy_test_open_pty(&controllerDescriptor, &terminalDescriptor) == 0 else {
            throw ChildProcessError("cannot open a pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        controller = FileHandle(fileDescriptor: controllerDescriptor, closeOnDealloc: false)
        terminal = FileHandle(fileDescriptor: terminalDescriptor, closeOnDealloc: false)
    }

    deinit {
        closeTerminal()
        closeController()
    }

    /// Closes our copy of the terminal end (once; do it after `run()`): when the child's
    /// copies close too, reading the controller ends (EIO, which `readChunk` reports as nil).
    public func closeTerminal() {
        if closed.withLock({ state in defer { state.terminal = true }; return !state.terminal }) { close(terminal.fileDescriptor) }
    }

    public func closeController() {
        if closed.withLock({ state in defer { state.controller = true }; return !state.controller }) { close(controller.fileDescriptor) }
    }
}
