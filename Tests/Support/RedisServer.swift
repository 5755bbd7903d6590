public import Foundation

/// A real `redis-server` for a test: on a free loopback port, no persistence, in a
/// temporary directory; stopped by its PID. `make deps` installs Debian's `redis-server`,
/// so a missing binary fails the test (it does not skip).
///
/// Guarantees: binds 127.0.0.1 only; `start` returns once the server answers PING (bounded
/// to 10 s); `stop` signals only this process, by PID, and waits for it; `restart` keeps the
/// port, so clients reconnect to the same address.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let extraArguments: [String]
    private var process: ChildProcess?

    /// The binary the tests run.
    public static let binary = URL(fileURLWithPath: "/usr/bin/redis-server")

    /// Starts a server; `arguments` are extra options (`["--requirepass", "x"]`).
    public static func start(_ arguments: [String] = []) async throws -> RedisServer {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw ChildProcessError("redis-server is not installed at \(binary.path): run `make deps` (it installs Debian's redis-server)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A free port can be taken between the probe and redis-server's bind (another test
        // process on the machine): the server then exits at once, and a new port is tried.
        var attempt = 1
        while true {
            let server = RedisServer(port: try freeLoopbackPort(), directory: directory, arguments: arguments)
            do {
                try await server.launch()
                return server
            } catch let error as ChildProcessError where error.description.contains("exited") && attempt < 3 {
                attempt += 1
            }
        }
    }

    private init(port: Int, directory: URL, arguments: [String]) {
        self.port = port
        self.directory = directory
        self.extraArguments = arguments
    }

    /// The running server's process id (to pause it with SIGSTOP in a test), nil once stopped.
    public var processIdentifier: Int32? { process?.processIdentifier }

    /// `redis://127.0.0.1:<port>`.
    public var url: String { "redis://127.0.0.1:\(port)" }

    private func launch() async throws {
        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready once it accepts a connection and answers PING (NOAUTH counts: it is up).
        let port = self.port
        let answered = await onOwnThread { () -> Bool in
            for _ in 0..<200 {
                if let reply = rawExchange(port: port, "PING\r\n"), reply.hasPrefix("+PONG") || reply.hasPrefix("-NOAUTH") { return true }
                guard process.isRunning else { return false }
                usleep(50_000)
            }
            return false
        }
        guard answered else {
            let exited = !process.isRunning
            stop()
            throw ChildProcessError(exited
                ? "redis-server exited at start on port \(port) (taken by another process?)"
                : "redis-server did not answer PING on port \(port) within 10 s")
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
    public func stop() {
        guard let process, process.processIdentifier > 0 else { return }
        self.process = nil
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Stops the server and starts it again on the same port, after `downFor`.
    public func restart(downFor: Duration = .zero) async throws {
        stop()
        if downFor > .zero { try await Task.sleep(for: downFor) }
        try await launch()
    }

    /// Stops the server and removes its directory.
    public func shutDown() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { shutDown() }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
public func freeLoopbackPort() throws -> Int {
    let (fd, port) = try boundLoopbackSocket()
    close(fd)
    return port
}

/// A port on 127.0.0.1 that refuses connections for as long as this is held: a socket bound
/// to it that does not listen. Unlike a port closed a moment ago, no other socket (another
/// test's listener, whose accept and close would reset the connection instead) can take it
/// meanwhile.
public final class RefusingLoopbackPort: @unchecked Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try boundLoopbackSocket()
    }

    deinit { close(fd) }
}

/// A port on 127.0.0.1 that completes TCP handshakes (the kernel's backlog) but never
/// accepts, reads or answers: a peer that is there and silent, for as long as this is held.
public final class SilentLoopbackListener: @unchecked Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try boundLoopbackSocket()
        // On failure the instance is fully initialized, so deinit closes the socket.
        guard listen(fd, 16) == 0 else { throw ChildProcessError("listen: \(errno)") }
    }

    deinit { close(fd) }
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel chose, not listening.
private func boundLoopbackSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ChildProcessError("socket: \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    // Unsafe boundary: the sockets API takes a sockaddr pointer to a local.
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        let error = errno
        close(fd)
        throw ChildProcessError("bind: \(error)")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// Sends `text` to 127.0.0.1:`port` and returns the first reply bytes (blocking; 1 s read timeout); nil if it cannot connect.
public func rawExchange(port: Int, _ text: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    // Unsafe boundary: the sockets API takes a sockaddr pointer to a local.
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return nil }
    return readChunk(FileHandle(fileDescriptor: fd, closeOnDealloc: false), upTo: 4096).map { String(decoding: $0, as: UTF8.self) }
}
