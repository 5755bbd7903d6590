import EddyShared
import CLibUV
public import EddyLoop

extension TCPConnection {
    /// Connects to `host:port`, resolving a host name asynchronously first and trying each
    /// address in turn until one accepts.
    ///
    /// - Parameters:
    ///   - loop: the loop that will own the connection (run its consumer there).
    ///   - timeout: covers resolution and every attempt; on expiry the attempt in progress
    ///     is closed and `IOError.Code.timedOut` is thrown. Default 10 s.
    /// - Throws: `IOError` (`connectionRefused`, `timedOut`, `hostNotFound` …), or
    ///   `CancellationError` if the task is cancelled (the socket is closed).
    public static func connect(
        host: String,
        port: Int,
        on loop: EventLoop,
        configuration: TCPConfiguration = TCPConfiguration(),
        timeout: Duration = .seconds(10)
    ) async throws -> TCPConnection {
        let configuration = try configuration.validated()
        do {
            return try await loop.withTimeout(timeout) {
                let addresses = try await Resolver.resolve(host: host, port: port, on: loop)
                var lastError: any Error = IOError(.hostNotFound, operation: "connect \(host)")
                for address in addresses {
                    do {
                        return try await connect(to: address, on: loop, configuration: configuration)
                    } catch let error as IOError {
                        lastError = error
                    }
                }
                throw lastError
            }
        } catch is TimeoutError {
            throw IOError(.timedOut, operation: "connect \(host):\(port)")
        }
    }

    /// Connects to one address (no timeout of its own; see the host variant).
    public static func connect(
        to address: SocketAddress,
        on loop: EventLoop,
        configuration: TCPConfiguration = TCPConfiguration()
    ) async throws -> TCPConnection {
        let configuration = try configuration.validated()
        let attempt = ConnectAttempt(loop: loop, address: address, configuration: configuration)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.runOnLoop { attempt.start(continuation) }
            }
        } onCancel: {
            loop.execute { attempt.cancel() }
        }
    }
}

/// One connect attempt: a `uv_tcp_t` plus a `uv_connect_t`; resumes its continuation
/// exactly once. On failure or cancellation the handle is closed (libuv completes the
/// pending connect request with `UV_ECANCELED` first).
private final class ConnectAttempt: LoopResource, UVHandleOwner, @unchecked Sendable {
    enum State {
        case created, cancelledEarly
        case connecting(UnsafeContinuation<TCPConnection, any Error>, UnsafeMutablePointer<uv_tcp_t>)
        case finished
    }

    let loop: EventLoop
    let address: SocketAddress
    let configuration: TCPConfiguration
    var state = State.created
    var failure: (any Error)?

    init(loop: EventLoop, address: SocketAddress, configuration: TCPConfiguration) {
        self.loop = loop
        self.address = address
        self.configuration = configuration
    }

    func start(_ continuation: UnsafeContinuation<TCPConnection, any Error>) {
        guard case .created = state else {
            state = .finished
            return continuation.resume(throwing: CancellationError())
        }
        guard loop.register(self) else {
            state = .finished
            return continuation.resume(throwing: IOError(.eventLoopShutdown, operation: "connect"))
        }
        let handle = UVHandle.allocate(uv_tcp_t.self)
        uv_tcp_init(loop.uv, handle)
        UVHandle.retain(self, in: handle.asUVHandle)
        state = .connecting(continuation, handle)
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        let status = address.withSockAddr { sockaddr in
            uv_tcp_connect(request, handle, sockaddr) { request, status in
                guard let request else { return }
                let stream = request.pointee.handle!
                request.deallocate()
                UVHandle.owner(of: stream.asUVHandle, as: ConnectAttempt.self).didConnect(status: status)
            }
        }
        if status < 0 {
            request.deallocate()
            fail(IOError(uv: status, operation: "connect \(address)"))
        }
    }

    func didConnect(status: Int32) {
        guard case .connecting(let continuation, let handle) = state else { return }
        if status < 0 {
            return fail(IOError(uv: status, operation: "connect \(address)"))
        }
        state = .finished
        // Hand the handle to its connection: re-point `data` at the connection (which
        // retains itself) and drop this attempt's reference.
        loop.deregister(self)
        Unmanaged<ConnectAttempt>.fromOpaque(handle.pointee.data!).release()
        let connection = TCPConnection(handle: handle, loop: loop, configuration: SharedValue(configuration))
        continuation.resume(returning: connection)
    }

    func cancel() {
        switch state {
        case .created: state = .cancelledEarly
        case .connecting: fail(CancellationError())
        case .cancelledEarly, .finished: break
        }
    }

    package func closeForShutdown() {
        fail(IOError(.eventLoopShutdown, operation: "connect"))
    }

    private func fail(_ error: any Error) {
        guard case .connecting(let continuation, let handle) = state else { return }
        state = .finished
        UVHandle.close(handle.asUVHandle)
        continuation.resume(throwing: error)
    }

    package func handleDidClose() {
        loop.deregister(self)
    }
}
