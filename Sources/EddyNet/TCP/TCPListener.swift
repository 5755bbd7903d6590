import CLibUV
public import EddyLoop
public import Logging
import Synchronization

/// A listening TCP socket whose accepted connections are spread evenly across an
/// `EventLoopGroup`.
///
/// The listening socket lives on one loop, watched with `uv_poll_t`; each wake-up accepts
/// up to 64 pending connections with `accept4` and deals each socket to a loop of the
/// group, which wraps it in a `TCPConnection` (`uv_tcp_open`). Loops are dealt to in
/// rounds that reach every loop once, each round in a random order: as even as round
/// robin, without making a peer that writes to its connections in order wake a different
/// loop with every write. No `SO_REUSEPORT`, so a second process binding the same port
/// still gets `EADDRINUSE`.
///
/// Guarantees: `connections` serves one waiting consumer at a time (a concurrent `next`
/// throws `IOError.Code.readInProgress`); at most `maxPendingConnections` accepted
/// connections wait for it (accepting pauses above that, leaving the rest in the kernel
/// backlog); `close()` stops accepting and closes connections nobody took; connections
/// already taken are the taker's to close.
public final class TCPListener: ByteStreamListener {
    public typealias Stream = TCPConnection
    /// The bound address; with port 0, the port the kernel chose.
    public let localAddress: SocketAddress
    /// The loop watching the listening socket.
    public let eventLoop: EventLoop
    let acceptor: Acceptor

    /// Binds and listens.
    ///
    /// - Parameters:
    ///   - host: a numeric IPv4/IPv6 address or a host name (resolved; the first address
    ///     is used). IPv6 sockets are IPv6-only.
    ///   - port: 0 lets the kernel choose; read it from `localAddress.port`.
    ///   - backlog: the kernel's accept queue length. Default 1,024.
    ///   - group: accepted connections go to its loops, every loop once per round of
    ///     `group.loops.count` connections.
    ///   - limits: connections over them are refused at once (see `ConnectionLimits`).
    ///   - logger: hears refusals by `limits` (`warning`, at most one line per 10 s, with the
    ///     count since the last one); nothing per accepted connection.
    /// - Throws: `IOError` (`addressInUse`, `addressNotAvailable`, `hostNotFound` …).
    public static func bind(
        host: String,
        port: Int,
        backlog: Int = 1024,
        group: EventLoopGroup,
        configuration: TCPConfiguration = TCPConfiguration(),
        maxPendingConnections: Int = 1024,
        limits: ConnectionLimits = ConnectionLimits(),
        logger: Logger = Logger(label: "eddy.tcp")
    ) async throws -> TCPListener {
        let configuration = try configuration.validated()
        let loop = group.loops[0]
        guard let address = try await Resolver.resolve(host: host, port: port, on: loop).first else {
            throw IOError(.hostNotFound, operation: "bind \(host)")
        }
        let acceptor = Acceptor(loop: loop, group: group, configuration: configuration, maxPending: max(1, maxPendingConnections),
                                limits: limits, logger: logger)
        let bound = try await loop.submit { try acceptor.open(address: address, backlog: backlog) }
        return TCPListener(localAddress: bound, loop: loop, acceptor: acceptor)
    }

    private init(localAddress: SocketAddress, loop: EventLoop, acceptor: Acceptor) {
        self.localAddress = localAddress
        self.eventLoop = loop
        self.acceptor = acceptor
    }

    /// Accepted connections, in acceptance order. One waiting consumer. Ends when the listener is
    /// closed or its loop shuts down.
    public var connections: Connections { Connections(acceptor: acceptor) }

    /// Stops accepting, closes the listening socket and every accepted connection that
    /// was not taken yet. Idempotent.
    public func close() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            eventLoop.execute {
                self.acceptor.close()
                continuation.resume()
            }
        }
    }

    /// The number of connections accepted so far (refused ones not included).
    public var acceptedCount: Int { acceptor.accepted.load(ordering: .relaxed) }

    /// Accepted connections not closed yet.
    public var openCount: Int { acceptor.admission.openCount }

    /// Connections refused so far for being over the `ConnectionLimits`, by reason.
    public var refusedCounts: ConnectionRefusalCounts { acceptor.admission.refused }

    /// The limits new connections are admitted under.
    public var limits: ConnectionLimits { acceptor.admission.limits }

    /// Like `serve(_:)` (`ByteStreamListener`), but a handler may hand its connection over
    /// to a fresh task (`ConnectionOutcome.handOver`), which then owns it and closes it
    /// when done. The hand-over goes through the task that accepts; once the listener is
    /// closed and that task has stopped taking work, the handler's own task runs the body
    /// instead. Either way the body runs exactly once, is cancelled with the others, and
    /// `serve` waits for it. Cancelling `serve` also closes every handed-over connection (the
    /// listener keeps a table of them), so that a body waiting on one (directly or through a
    /// protocol on top, such as a WebSocket) ends even if that wait installs no cancellation
    /// handler of its own: such a handler's frames would otherwise sit on every idle
    /// connection's task. A handler may also keep its connection open with no task at all
    /// (`ConnectionOutcome.keepOpen`); `serve` then returns once every such connection has
    /// closed.
    ///
    /// Handlers and bodies run in tasks that `serve` keeps in a table (`ConnectionTasks`),
    /// cancels when it is cancelled and waits for, as a task group's children would be; not
    /// in a task group, whose runtime cost per finished child grows with the number of open
    /// connections.
    public func serveHandingOver(_ handler: @escaping @Sendable (TCPConnection) async throws -> ConnectionOutcome) async throws {
        let acceptor = self.acceptor
        let tasks = ConnectionTasks()
        try await withTaskCancellationHandler {
            do {
                while let event = try await acceptor.next() {
                    switch event {
                    case .accepted(let connection):
                        tasks.start(on: connection.eventLoop) {
                            let outcome: ConnectionOutcome
                            do { outcome = try await handler(connection) } catch { outcome = .close }
                            let body: @Sendable () async -> Void
                            switch outcome {
                            case .close: return await connection.close()
                            case .keepOpen: return acceptor.keepOpen(connection)
                            case .handOver(let handOver): body = handOver
                            }
                            if acceptor.handOver(connection, body) { return }
                            // Refused (the listener closed meanwhile): run it here, still
                            // closed by a cancellation of `serve`.
                            acceptor.track(connection)
                            await body()
                            await acceptor.endHandOver(connection)
                        }
                    case .handOver(let connection, let body):
                        tasks.start(on: connection.eventLoop) {
                            await body()
                            await acceptor.endHandOver(connection)
                        }
                    }
                }
            } catch {
                // As a task group would on an error: cancel the connections' tasks and wait;
                // close the handed-over connections too, so bodies parked on them end.
                acceptor.closeHandedOverForCancellation()
                tasks.cancelAll()
                await tasks.waitUntilEmpty()
                throw error
            }
            await tasks.waitUntilEmpty()
            // Connections kept open with no task end on their own (or when `serve` is
            // cancelled, below): `serve` lasts as long as they do.
            await acceptor.waitUntilNoneTracked()
        } onCancel: {
            eventLoop.execute { self.acceptor.close() }
            acceptor.closeHandedOverForCancellation()
            tasks.cancelAll()
        }
    }

    /// The connections a listener accepts; see `TCPListener.connections`.
    public struct Connections: AsyncSequence, Sendable {
        public typealias Element = TCPConnection
        let acceptor: Acceptor

        public func makeAsyncIterator() -> Iterator {
            Iterator(acceptor: acceptor)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let acceptor: Acceptor

            public mutating func next() async throws -> TCPConnection? {
                let acceptor = self.acceptor
                while let event = try await acceptor.next() {
                    switch event {
                    case .accepted(let connection):
                        return connection
                    case .handOver(let connection, let body):
                        // Only `serveHandingOver` creates hand-overs, and it is the sole
                        // consumer while it runs; should one still arrive here, run it.
                        Task(executorPreference: connection.eventLoop) {
                            await body()
                            await acceptor.endHandOver(connection)
                        }
                    }
                }
                return nil
            }
        }
    }
}
