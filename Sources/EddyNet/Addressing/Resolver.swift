import CLibUV
public import EddyLoop

/// Asynchronous host-name resolution through libuv (`uv_getaddrinfo`, run on libuv's
/// thread pool so the loop never blocks).
///
/// Guarantees: numeric addresses are parsed without a lookup; a failed lookup throws an
/// `IOError` carrying libuv's `EAI_*` name; cancelling the task cancels the request.
public enum Resolver {
    /// The addresses for `host` and `port`, in the resolver's preferred order.
    public static func resolve(host: String, port: Int, on loop: EventLoop) async throws -> [SocketAddress] {
        // Safe to drop: not a numeric address means a host name, resolved below.
        if let numeric = try? SocketAddress(ipAddress: host, port: port) { return [numeric] }
        let request = ResolveRequest(loop: loop, host: host, port: port)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                loop.runOnLoop { request.start(continuation) }
            }
        } onCancel: {
            loop.execute { request.cancel() }
        }
    }
}

/// One `uv_getaddrinfo` request; its continuation is resumed exactly once, from the
/// request's callback (libuv calls it on cancellation too, with `UV_EAI_CANCELED`).
private final class ResolveRequest: @unchecked Sendable {
    let loop: EventLoop
    let host: String
    let port: Int
    var request: UnsafeMutablePointer<uv_getaddrinfo_t>?
    var continuation: UnsafeContinuation<[SocketAddress], any Error>?
    var cancelledEarly = false

    init(loop: EventLoop, host: String, port: Int) {
        self.loop = loop
        self.host = host
        self.port = port
    }

    func start(_ continuation: UnsafeContinuation<[SocketAddress], any Error>) {
        if cancelledEarly { return continuation.resume(throwing: CancellationError()) }
        let request = UnsafeMutablePointer<uv_getaddrinfo_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        self.request = request
        self.continuation = continuation
        let status = uv_getaddrinfo(loop.uv, request, { request, status, result in
            guard let request else { return }
            let owner = Unmanaged<ResolveRequest>.fromOpaque(request.pointee.data!).takeRetainedValue()
            request.deallocate()
            owner.finish(status: status, result: result)
        }, host, String(port), &hints)
        if status < 0 {
            // libuv will not call back: undo and fail here.
            Unmanaged<ResolveRequest>.fromOpaque(request.pointee.data!).release()
            request.deallocate()
            self.request = nil
            self.continuation = nil
            continuation.resume(throwing: IOError(uv: status, operation: "resolve \(host)"))
        }
    }

    func cancel() {
        if let request { uv_cancel(UnsafeMutablePointer<uv_req_t>(OpaquePointer(request))) } else { cancelledEarly = true }
    }

    func finish(status: Int32, result: UnsafeMutablePointer<addrinfo>?) {
        request = nil
        guard let continuation else { return }
        self.continuation = nil
        defer { uv_freeaddrinfo(result) }
        if status == UV_EAI_CANCELED.rawValue { return continuation.resume(throwing: CancellationError()) }
        if status < 0 { return continuation.resume(throwing: IOError(uv: status, operation: "resolve \(host)")) }
        var addresses: [SocketAddress] = []
        var cursor = result
        while let info = cursor {
            if let address = info.pointee.ai_addr, let parsed = SocketAddress(address), !addresses.contains(parsed) {
                addresses.append(parsed)
            }
            cursor = info.pointee.ai_next
        }
        if addresses.isEmpty { return continuation.resume(throwing: IOError(.hostNotFound, operation: "resolve \(host)")) }
        continuation.resume(returning: addresses)
    }
}
