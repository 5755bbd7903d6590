import EddyShared
import CEddyShims
import CLibUV
import EddyLoop
import EddyMetrics
import Glibc
import Logging
import struct Synchronization.Atomic

/// The listening socket behind a `TCPListener`, and the hand-over queue between the
/// loops that adopt accepted sockets and the task that consumes them.
final class Acceptor: LoopResource, UVHandleOwner, @unchecked Sendable {
    /// What the consumer of a listener takes next.
    enum Event {
        case accepted(TCPConnection)
        /// A served connection whose handler handed it over to a fresh task.
        case handOver(TCPConnection, @Sendable () async -> Void)
    }

    /// A queued hand-over. A struct rather than a tuple: a closure kept in a tuple inside
    /// an array is stored in its most general form, and calling it then costs thunks whose
    /// frames stay on the connection's task for its whole life.
    private struct HandOver {
        let connection: TCPConnection
        let body: @Sendable () async -> Void
    }

    private struct Queue {
        var ready: [TCPConnection] = []
        var handOvers: [HandOver] = []
        var waiter: UnsafeContinuation<Event?, any Error>?
        var finished = false
        /// The consumer has seen the end: hand-overs are refused from here on.
        var ended = false
        /// Connections in their hand-over phase, closed if `serve` is cancelled.
        var handedOver: [ObjectIdentifier: TCPConnection] = [:]
        var cancelled = false
        /// `serve` waits for the table to empty once its handlers are done.
        var emptyWaiter: UnsafeContinuation<Void, Never>?

        /// Takes a connection out of the table; returns the waiter to resume if that
        /// emptied it.
        mutating func untrack(_ connection: TCPConnection) -> UnsafeContinuation<Void, Never>? {
            handedOver.removeValue(forKey: ObjectIdentifier(connection))
            guard handedOver.isEmpty, let waiter = emptyWaiter else { return nil }
            emptyWaiter = nil
            return waiter
        }

        /// Enters a connection in its hand-over phase; closes it at once if `serve` was
        /// cancelled already.
        mutating func track(_ connection: TCPConnection) {
            handedOver[ObjectIdentifier(connection)] = connection
            if cancelled { connection.closeForCancellationSoon() }
        }
        var pausedForBackpressure = false
    }

    let loop: EventLoop
    let group: EventLoopGroup
    /// One copy for every connection this listener accepts.
    let configuration: SharedValue<TCPConfiguration>
    let maxPending: Int
    let accepted = Atomic<Int>(0)
    /// Open connections against the listener's `ConnectionLimits`.
    let admission: ConnectionAdmission
    /// Loop-thread state: when refusals were last logged.
    private var refusals: RefusalLog
    private let queue = Mutex(Queue())

    // Loop-thread state.
    private var fd: Int32 = -1
    private var poll: UnsafeMutablePointer<uv_poll_t>?
    private var retryTimer: UnsafeMutablePointer<uv_timer_t>?
    private var open = false
    /// Which loop takes each accepted socket.
    private var dealer: LoopDealer<SystemRandomNumberGenerator>

    init(loop: EventLoop, group: EventLoopGroup, configuration: TCPConfiguration, maxPending: Int, limits: ConnectionLimits,
         logger: Logger) {
        self.refusals = RefusalLog(logger: logger)
        self.loop = loop
        self.group = group
        self.dealer = LoopDealer(loopCount: group.loops.count)
        self.configuration = SharedValue(configuration)
        self.maxPending = maxPending
        self.admission = ConnectionAdmission(limits: limits)
    }

    /// Creates, binds and listens; starts watching for connections. Loop thread.
    func open(address: SocketAddress, backlog: Int) throws -> SocketAddress {
        let family = address.family == .ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(uv: eddy_uv_errno(), operation: "socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        let bound = address.withSockAddr { Glibc.bind(fd, $0, address.length) }
        if bound != 0 {
            let error = IOError(uv: eddy_uv_errno(), operation: "bind \(address)")
            Glibc.close(fd)
            throw error
        }
        if listen(fd, Int32(clamping: backlog)) != 0 {
            let error = IOError(uv: eddy_uv_errno(), operation: "listen \(address)")
            Glibc.close(fd)
            throw error
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let local: SocketAddress? = withUnsafeMutableBytes(of: &storage) { raw in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            return getsockname(fd, pointer, &length) == 0 ? SocketAddress(pointer) : nil
        }
        guard loop.register(self) else {
            Glibc.close(fd)
            throw IOError(.eventLoopShutdown, operation: "listen")
        }
        self.fd = fd
        let poll = UVHandle.allocate(uv_poll_t.self)
        uv_poll_init(loop.uv, poll, fd)
        UVHandle.retain(self, in: poll.asUVHandle)
        self.poll = poll
        open = true
        startWatching()
        return local ?? address
    }

    private func startWatching() {
        guard let poll, open else { return }
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, status, events in
            UVHandle.owner(of: poll!.asUVHandle, as: Acceptor.self).acceptPending()
        }
    }

    /// Accepts what the kernel has queued (bounded per wake-up) and deals the sockets out
    /// to the group's loops (see `LoopDealer`).
    private func acceptPending() {
        for _ in 0..<64 {
            guard open else { return }
            if queue.withLock({ $0.ready.count >= maxPending }) {
                pauseForBackpressure()
                return
            }
            let client = eddy_accept(fd)
            if client < 0 {
                let error = eddy_uv_errno()
                if error == UV_EAGAIN.rawValue || error == UV_ECONNABORTED.rawValue || error == UV_EINTR.rawValue { return }
                // EMFILE/ENFILE/ENOMEM: the socket stays readable; back off instead of spinning.
                backOff()
                return
            }
            let peer = admission.limits.tracksAddresses ? Self.peerKey(of: client) : nil
            if let refusal = admission.admit(peer, now: .now) {
                LoopTally.add(refusal == .capacity ? .connectionsRefusedCapacity : .connectionsRefusedAddress)
                refuse(client, refusal)
                continue
            }
            LoopTally.add(.connectionsAccepted)
            LoopTally.add(.connectionsOpen)
            accepted.wrappingAdd(1, ordering: .relaxed)
            let target = group.loops[dealer.next()]
            let configuration = self.configuration
            target.runOnLoop { self.adopt(client, peer: peer, on: target, configuration: configuration) }
        }
    }

    /// The peer's address of an accepted socket, for per-address limits.
    private static func peerKey(of client: Int32) -> ConnectionAdmission.PeerKey? {
        var key: (UInt64, UInt64) = (0, 0)
        let found = withUnsafeMutableBytes(of: &key) { raw in
            // Two UInt64s laid out contiguously: the 16 bytes the shim fills.
            eddy_peer_key(client, raw.baseAddress!.assumingMemoryBound(to: UInt64.self)) == 0
        }
        return found ? ConnectionAdmission.PeerKey(high: key.0, low: key.1) : nil
    }

    /// Tells a connection over a limit why (if the limits say what to send) and closes it.
    private func refuse(_ client: Int32, _ reason: ConnectionRefusal) {
        let report = refusals.refusing(client)
        let message = admission.limits.refusals[reason] ?? []
        message.withUnsafeBytes { eddy_refuse(client, $0.baseAddress, $0.count) }
        if let report { refusals.log(report, reason: reason, limits: admission.limits) }
    }

    /// Wraps an accepted socket on its new loop. Target loop thread.
    private func adopt(_ client: Int32, peer: ConnectionAdmission.PeerKey?, on target: EventLoop,
                       configuration: SharedValue<TCPConfiguration>) {
        guard !target.isShuttingDown else {
            Glibc.close(client)
            admission.release(peer)
            return
        }
        let handle = UVHandle.allocate(uv_tcp_t.self)
        uv_tcp_init(target.uv, handle)
        let status = uv_tcp_open(handle, uv_os_sock_t(client))
        if status < 0 {
            Glibc.close(client)
            uv_close(handle.asUVHandle) { UnsafeMutableRawPointer($0!).deallocate() }
            admission.release(peer)
            return
        }
        let connection = TCPConnection(handle: handle, loop: target, configuration: configuration)
        connection.acceptance = ConnectionAcceptance(acceptor: self, peer: peer)
        connection.marks.insert(.admitted)
        deliver(connection)
    }

    private func deliver(_ connection: TCPConnection) {
        let outcome: (waiter: UnsafeContinuation<Event?, any Error>?, rejected: Bool) = queue.withLock { queue in
            if queue.finished { return (nil, true) }
            if let waiter = queue.waiter {
                queue.waiter = nil
                return (waiter, false)
            }
            queue.ready.append(connection)
            return (nil, false)
        }
        if outcome.rejected {
            connection.eventLoop.runOnLoop { connection.closeNow(readOutcome: .success(nil), writeError: IOError(.closed, operation: "write")) }
        } else {
            outcome.waiter?.resume(returning: .accepted(connection))
        }
    }

    /// Queues a hand-over for the consumer (`TCPListener.serve`). False once the consumer
    /// has seen the end of the sequence: the caller then runs `body` itself. Any thread.
    func handOver(_ connection: TCPConnection, _ body: @escaping @Sendable () async -> Void) -> Bool {
        let (accepted, waiter): (Bool, UnsafeContinuation<Event?, any Error>?) = queue.withLock { queue in
            if queue.ended { return (false, nil) }
            queue.track(connection)
            if let waiter = queue.waiter {
                queue.waiter = nil
                return (true, waiter)
            }
            queue.handOvers.append(HandOver(connection: connection, body: body))
            return (true, nil)
        }
        waiter?.resume(returning: .handOver(connection, body))
        return accepted
    }

    /// Tracks a connection in its hand-over phase that runs outside the queue (see
    /// `handOver`); closes it at once if `serve` was cancelled. Any thread.
    func track(_ connection: TCPConnection) {
        queue.withLock { $0.track(connection) }
    }

    /// A hand-over's body returned: the connection leaves the table and is closed.
    func endHandOver(_ connection: TCPConnection) async {
        queue.withLock { $0.untrack(connection) }?.resume()
        await connection.close()
    }

    /// A handler left `connection` open with no task (`ConnectionOutcome.keepOpen`): it
    /// stays in the table until it closes. Any thread.
    func keepOpen(_ connection: TCPConnection) {
        queue.withLock { $0.track(connection) }
        connection.eventLoop.runOnLoop {
            if connection.isFinished {
                self.keptOpenConnectionClosed(connection)
            } else {
                // Kept-open connections all come from this acceptor (`adopt`), which their
                // `acceptance` names: that is whom `releaseTrackerIfDone` tells.
                assert(connection.acceptance?.acceptor === self)
                connection.marks.insert(.tracked)
            }
        }
    }

    /// A connection kept open has closed. Any thread.
    func keptOpenConnectionClosed(_ connection: TCPConnection) {
        queue.withLock { $0.untrack(connection) }?.resume()
    }

    /// Returns once no connection is left in the table (handed over or kept open).
    func waitUntilNoneTracked() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let empty = queue.withLock { queue in
                if queue.handedOver.isEmpty { return true }
                queue.emptyWaiter = continuation
                return false
            }
            if empty { continuation.resume() }
        }
    }

    /// `serve` was cancelled: closes every connection in its hand-over phase, now and as
    /// they arrive. Any thread.
    func closeHandedOverForCancellation() {
        let connections = queue.withLock { queue in
            queue.cancelled = true
            return Array(queue.handedOver.values)
        }
        for connection in connections {
            connection.closeForCancellationSoon()
        }
    }

    /// The next accepted connection or hand-over; nil once the listener is closed and no
    /// hand-over is waiting. Any thread.
    func next() async throws -> Event? {
        try await withUnsafeThrowingContinuation { continuation in
            let (ready, resume): (Result<Event?, IOError>?, Bool) = queue.withLock { queue in
                if !queue.handOvers.isEmpty {
                    let handOver = queue.handOvers.removeFirst()
                    return (.success(.handOver(handOver.connection, handOver.body)), false)
                }
                if !queue.ready.isEmpty {
                    let connection = queue.ready.removeFirst()
                    let resume = queue.pausedForBackpressure && queue.ready.count < maxPending / 2 + 1
                    if resume { queue.pausedForBackpressure = false }
                    return (.success(.accepted(connection)), resume)
                }
                if queue.finished {
                    queue.ended = true
                    return (.success(nil), false)
                }
                if queue.waiter != nil { return (.failure(IOError(.readInProgress, operation: "accept")), false) }
                queue.waiter = continuation
                return (nil, false)
            }
            if resume { loop.execute { self.startWatching() } }
            if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
        }
    }

    private func pauseForBackpressure() {
        queue.withLock { $0.pausedForBackpressure = true }
        if let poll { uv_poll_stop(poll) }
    }

    private func backOff() {
        guard let poll else { return }
        uv_poll_stop(poll)
        if retryTimer == nil {
            let timer = UVHandle.allocate(uv_timer_t.self)
            uv_timer_init(loop.uv, timer)
            timer.pointee.data = Unmanaged.passUnretained(self).toOpaque() // closed before self goes
            retryTimer = timer
        }
        uv_timer_start(retryTimer!, { timer in
            Unmanaged<Acceptor>.fromOpaque(timer!.pointee.data!).takeUnretainedValue().startWatching()
        }, 50, 0)
    }

    /// Stops accepting and ends the sequence. Loop thread. Idempotent.
    func close() {
        guard open else { return }
        open = false
        if let retryTimer {
            uv_timer_stop(retryTimer)
            uv_close(retryTimer.asUVHandle) { UnsafeMutableRawPointer($0!).deallocate() }
            self.retryTimer = nil
        }
        if let poll {
            uv_poll_stop(poll)
            UVHandle.close(poll.asUVHandle) // the fd is closed in handleDidClose
        }
        let (waiter, leftovers) = queue.withLock { queue in
            queue.finished = true
            if queue.waiter != nil { queue.ended = true } // it is told the end now
            defer { queue.waiter = nil; queue.ready = [] }
            return (queue.waiter, queue.ready)
        }
        waiter?.resume(returning: nil)
        for connection in leftovers {
            connection.eventLoop.runOnLoop {
                connection.closeNow(readOutcome: .success(nil), writeError: IOError(.closed, operation: "write"))
            }
        }
    }

    package func closeForShutdown() { close() }

    package func handleDidClose() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
        poll = nil
        loop.deregister(self)
    }
}
