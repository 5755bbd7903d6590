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
        try await watchSignals(signals).next()
    }

    /// Starts watching `signals` and returns once their handlers are installed: from then
    /// on they no longer terminate the process, and the first one to arrive is kept until
    /// `SignalWatch.next()` takes it. A server installs this before it announces that it
    /// listens, so a stop request sent right after the announcement is never lost (nor
    /// kills the process before it has flushed what it must).
    public func watchSignals(_ signals: [ProcessSignal]) async throws -> SignalWatch {
        try await watchSignals(signals.map(\.rawValue))
    }

    /// `watchSignals(_:)` with raw signal numbers.
    public func watchSignals(_ signals: [Int32]) async throws -> SignalWatch {
        let watcher = SignalWatcher(loop: self, signals: signals)
        try await submit { try watcher.install() }
        return SignalWatch(watcher: watcher)
    }
}

/// Signal handlers installed by `EventLoop.watchSignals(_:)`, waiting to report the first
/// signal that arrives.
///
/// Guarantees: `next()` returns the first of the watched signals, whether it arrived before
/// or during the call; after it returns, throws, or `cancel()`, the handlers are removed and
/// the signals have their default effect again. One `next()` per watch: a second one, at the
/// same time or later, throws `CancellationError`.
public final class SignalWatch: Sendable {
    private let watcher: SignalWatcher

    fileprivate init(watcher: SignalWatcher) { self.watcher = watcher }

    /// The first watched signal. Throws `CancellationError` if the task is cancelled (or
    /// the watch was cancelled), `IOError.Code.eventLoopShutdown` if the loop shut down.
    public func next() async throws -> ProcessSignal {
        ProcessSignal(rawValue: try await next())
    }

    /// `next()` as a raw signal number.
    public func next() async throws -> Int32 {
        let watcher = self.watcher
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                watcher.loop.runOnLoop { watcher.wait(continuation) }
            }
        } onCancel: {
            watcher.loop.execute { watcher.finish(.failure(CancellationError())) }
        }
    }

    /// Removes the handlers; a pending `next()` throws `CancellationError`.
    public func cancel() {
        let watcher = self.watcher
        watcher.loop.execute { watcher.finish(.failure(CancellationError())) }
    }
}

/// A set of `uv_signal_t` handles that report the first signal to one continuation, or keep
/// it until one waits. Loop-thread state.
final class SignalWatcher: LoopResource, @unchecked Sendable {
    let loop: EventLoop
    private let signals: [Int32]
    private var handles = SignalHandles()
    private var continuation: UnsafeContinuation<Int32, any Error>?
    /// The outcome, once a signal arrived (or the watch ended) before anyone waited.
    private var outcome: Result<Int32, any Error>?
    private var done = false

    init(loop: EventLoop, signals: [Int32]) {
        self.loop = loop
        self.signals = signals
    }

    func install() throws(IOError) {
        guard loop.register(self) else {
            done = true
            throw IOError(.eventLoopShutdown, operation: "signal")
        }
        handles.start(signals, on: loop, owner: self) { handle, signal in
            Unmanaged<SignalWatcher>.fromOpaque(handle!.pointee.data!).takeUnretainedValue().finish(.success(signal))
        }
    }

    func wait(_ continuation: UnsafeContinuation<Int32, any Error>) {
        if let outcome {
            self.outcome = nil
            return continuation.resume(with: outcome)
        }
        if done || self.continuation != nil { return continuation.resume(throwing: CancellationError()) } // one wait per watch
        self.continuation = continuation
    }

    func finish(_ result: Result<Int32, any Error>) {
        guard !done else { return }
        done = true
        handles.close(deregistering: self, from: loop)
        if let continuation {
            self.continuation = nil
            continuation.resume(with: result)
        } else {
            outcome = result
        }
    }

    package func closeForShutdown() {
        finish(.failure(IOError(.eventLoopShutdown, operation: "signal")))
    }
}

/// Calls `body` when the handle it is attached to has closed.
final class ClosingCounter: UVHandleOwner {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
    func handleDidClose() { body() }
}
