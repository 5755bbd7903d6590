import CLibUV

/// Every delivery of some signals, for as long as the subscription lasts: for signals a
/// server handles again and again (SIGHUP: reload the certificate), where a one-shot
/// `SignalWatch` would leave a moment with the default action (for SIGHUP: terminate)
/// between one watch and the next.
///
/// Guarantees: the handlers are installed when `EventLoop.subscribeToSignals(_:)` returns
/// and stay installed until `cancel()` or the loop's shutdown; meanwhile the signals never
/// have their default effect. `signals` yields each delivery (signals that arrive while
/// the consumer is busy are kept, the newest 16) and finishes at `cancel()` or shutdown.
public final class SignalSubscription: Sendable {
    /// The deliveries, in order.
    public let signals: AsyncStream<ProcessSignal>
    private let handler: RepeatingSignalHandler

    fileprivate init(signals: AsyncStream<ProcessSignal>, handler: RepeatingSignalHandler) {
        self.signals = signals
        self.handler = handler
    }

    /// Removes the handlers (the signals have their default effect again) and finishes
    /// `signals`. Idempotent; any thread.
    public func cancel() {
        let handler = self.handler
        handler.loop.execute { handler.stop() }
    }
}

extension EventLoop {
    /// Installs handlers for `signals` that report every delivery (see `SignalSubscription`).
    public func subscribeToSignals(_ signals: [ProcessSignal]) async throws -> SignalSubscription {
        let (stream, continuation) = AsyncStream<ProcessSignal>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let handler = RepeatingSignalHandler(loop: self, signals: signals.map(\.rawValue), continuation: continuation)
        try await submit { try handler.install() }
        return SignalSubscription(signals: stream, handler: handler)
    }
}

/// The `uv_signal_t` handles of a `SignalSubscription`. Loop-thread state.
final class RepeatingSignalHandler: LoopResource, @unchecked Sendable {
    let loop: EventLoop
    private let signals: [Int32]
    private let continuation: AsyncStream<ProcessSignal>.Continuation
    private var handles = SignalHandles()
    private var stopped = false

    init(loop: EventLoop, signals: [Int32], continuation: AsyncStream<ProcessSignal>.Continuation) {
        self.loop = loop
        self.signals = signals
        self.continuation = continuation
    }

    func install() throws(IOError) {
        guard loop.register(self) else {
            stopped = true
            continuation.finish()
            throw IOError(.eventLoopShutdown, operation: "signal")
        }
        handles.start(signals, on: loop, owner: self) { handle, signal in
            Unmanaged<RepeatingSignalHandler>.fromOpaque(handle!.pointee.data!).takeUnretainedValue().deliver(signal)
        }
    }

    private func deliver(_ signal: Int32) {
        guard !stopped else { return }
        continuation.yield(ProcessSignal(rawValue: signal))
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        handles.close(deregistering: self, from: loop)
        continuation.finish()
    }

    package func closeForShutdown() { stop() }
}
