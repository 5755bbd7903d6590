public import EddyLoop
public import Logging
import EddyShared

/// The life of a TCP server, in the order it happens: `start` binds and begins serving,
/// `waitForTerminationSignal` waits for SIGINT or SIGTERM (or the caller decides when to stop
/// in some other way), and `stop` winds everything down in order.
///
/// Guarantees:
/// - after `start` returns, the port is bound (`port` is the one the kernel chose for port 0)
///   and connections are being accepted by `serve`, which runs on the listener's loop so a
///   busy global pool cannot stall accepting;
/// - the stop signals (SIGINT and SIGTERM by default) are watched from before the bind: one
///   that arrives as soon as the port is announced is kept for `waitForTerminationSignal`,
///   never lost and never fatal. `stop` removes the handlers;
/// - `stop` stops accepting first, then runs `beforeShutdown` (the place to close what the
///   server owns politely, e.g. WebSockets with 1001), then cancels `serve` and waits for it
///   to return, and only then shuts the group's loops down; it returns their reports (each
///   `isClean` when no libuv handle was left open). Calling `stop` again returns the reports
///   of the first call without doing anything;
/// - nothing is printed: reporting is the caller's job.
public final class TCPService: Sendable {
    /// The loops the service runs on; `stop` shuts them down.
    public let group: EventLoopGroup
    /// The listening socket.
    public let listener: TCPListener
    private let serving: Task<Void, any Error>
    private let stopSignals: SignalWatch?
    private let stopped = Mutex<Task<[ShutdownReport], Never>?>(nil)

    /// The bound port.
    public var port: Int { listener.localAddress.port }

    private init(group: EventLoopGroup, listener: TCPListener, serving: Task<Void, any Error>, stopSignals: SignalWatch?) {
        self.group = group
        self.listener = listener
        self.serving = serving
        self.stopSignals = stopSignals
    }

    /// Watches `stopSignals` (none: the caller handles signals itself, e.g. a `ServiceGroup`
    /// that owns them: one owner per signal and process), binds `host:port` (0: any free
    /// port) on `group` under `limits` (refusals are logged on `logger`) and starts `serve`
    /// with the listener.
    /// - Throws: `IOError` from binding (`addressInUse`, `hostNotFound` …); nothing runs then.
    public static func start(
        group: EventLoopGroup,
        host: String,
        port: Int,
        configuration: TCPConfiguration = TCPConfiguration(),
        limits: ConnectionLimits = ConnectionLimits(),
        stopSignals: [ProcessSignal] = [.interrupt, .terminate],
        logger: Logger = Logger(label: "eddy.tcp"),
        serve: @escaping @Sendable (TCPListener) async throws -> Void
    ) async throws -> TCPService {
        let watch = stopSignals.isEmpty ? nil : try await group.loops[0].watchSignals(stopSignals)
        let listener: TCPListener
        do {
            listener = try await TCPListener.bind(host: host, port: port, group: group, configuration: configuration, limits: limits,
                                                  logger: logger)
        } catch {
            watch?.cancel()
            throw error
        }
        let serving = Task(executorPreference: listener.eventLoop) { try await serve(listener) }
        return TCPService(group: group, listener: listener, serving: serving, stopSignals: watch)
    }

    /// Waits until the process receives one of the stop signals (it may have arrived
    /// already) and returns it. Throws `CancellationError` if the task is cancelled, if the
    /// service watches no signals, or once the signal has been taken or `stop` has run.
    public func waitForTerminationSignal() async throws -> ProcessSignal {
        guard let stopSignals else { throw CancellationError() }
        return try await stopSignals.next()
    }

    /// Stops in order (see the type's guarantees) and returns the loops' shutdown reports.
    @discardableResult
    public func stop(beforeShutdown: @escaping @Sendable () async -> Void = {}) async -> [ShutdownReport] {
        stopSignals?.cancel()
        let (listener, serving, group) = (self.listener, self.serving, self.group)
        let stopping = stopped.withLock { current in
            if let current { return current }
            let task = Task<[ShutdownReport], Never> {
                await listener.close()
                await beforeShutdown()
                serving.cancel()
                // Safe to drop: `serve` ends by cancellation here; its errors are the handler's to report.
                _ = try? await serving.value
                return await group.shutdown()
            }
            current = task
            return task
        }
        return await stopping.value
    }
}
