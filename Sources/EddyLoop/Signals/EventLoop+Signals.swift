import CLibUV

/// A POSIX signal number, with names for the ones servers handle.
public struct ProcessSignal: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `SIGINT` (Ctrl-C).
    public static let interrupt = ProcessSignal(rawValue: SIGINT)
    /// `SIGTERM` (a polite stop request from a supervisor).
    public static let terminate = ProcessSignal(rawValue: SIGTERM)
    /// `SIGHUP`.
    public static let hangUp = ProcessSignal(rawValue: SIGHUP)

    public var description: String {
        switch self {
        case .interrupt: "SIGINT"
        case .terminate: "SIGTERM"
        case .hangUp: "SIGHUP"
        default: "signal \(rawValue)"
        }
    }
}

extension EventLoop {
    /// Waits for one of `signals`; see `waitForSignal(_:)` with raw numbers.
    public func waitForSignal(_ signals: [ProcessSignal]) async throws -> ProcessSignal {
        ProcessSignal(rawValue: try await waitForSignal(signals.map(\.rawValue)))
    }

    /// Waits until the process receives one of `signals` (e.g. `SIGINT`, `SIGTERM`) and
    /// returns it. While waiting, those signals no longer terminate the process.
    ///
    /// Throws `CancellationError` if the task is cancelled and
    /// `IOError.Code.eventLoopShutdown` if the loop shuts down first; either way the
    /// signal handlers are removed.
    public func waitForSignal(_ signals: [Int32]) async throws -> Int32 {
        let watcher = SignalWatcher(loop: self, signals: signals)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                runOnLoop { watcher.start(continuation) }
            }
        } onCancel: {
            execute { watcher.finish(.failure(CancellationError())) }
        }
    }
}

/// A set of `uv_signal_t` handles that resume one continuation with the first signal.
final class SignalWatcher: LoopResource, @unchecked Sendable {
    private let loop: EventLoop
    private let signals: [Int32]
    private var handles: [UnsafeMutablePointer<uv_signal_t>] = []
    private var continuation: UnsafeContinuation<Int32, any Error>?
    private var done = false

    init(loop: EventLoop, signals: [Int32]) {
        self.loop = loop
        self.signals = signals
    }

    func start(_ continuation: UnsafeContinuation<Int32, any Error>) {
        if done { return continuation.resume(throwing: CancellationError()) }
        guard loop.register(self) else {
            done = true
            return continuation.resume(throwing: IOError(.eventLoopShutdown, operation: "signal"))
        }
        self.continuation = continuation
        for signal in signals {
            let handle = UVHandle.allocate(uv_signal_t.self)
            uv_signal_init(loop.uv, handle)
            handle.pointee.data = Unmanaged.passUnretained(self).toOpaque() // closed before self goes
            uv_signal_start(handle, { handle, signal in
                Unmanaged<SignalWatcher>.fromOpaque(handle!.pointee.data!).takeUnretainedValue().finish(.success(signal))
            }, signal)
            handles.append(handle)
        }
    }

    func finish(_ result: Result<Int32, any Error>) {
        guard !done else { return }
        done = true
        let open = handles
        handles = []
        var remaining = open.count
        for handle in open {
            uv_signal_stop(handle)
            handle.pointee.data = Unmanaged.passRetained(ClosingCounter { [self] in
                remaining -= 1
                if remaining == 0 { loop.deregister(self) }
            }).toOpaque()
            UVHandle.close(handle.asUVHandle)
        }
        if open.isEmpty { loop.deregister(self) }
        continuation?.resume(with: result)
        continuation = nil
    }

    package func closeForShutdown() {
        finish(.failure(IOError(.eventLoopShutdown, operation: "signal")))
    }
}

/// Calls `body` when the handle it is attached to has closed.
private final class ClosingCounter: UVHandleOwner {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
    func handleDidClose() { body() }
}
