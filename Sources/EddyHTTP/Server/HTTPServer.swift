import EddyHTTPCore
import EddyLoop
public import EddyNet
import Glibc
import EddyShared

/// Serves HTTP/1.1 on any listener of byte streams (`ByteStreamListener`: TCP, later
/// TLS) or on a single stream: parses requests with the bounded sans-IO parser,
/// routes them, answers plain requests (with keep-alive), serves static files, and hands
/// upgrade requests to an upgrade handler together with their stream.
///
/// Guarantees: every malformed or oversized request gets its exact status (400, 405,
/// 413, 414, 431, 501 …) and the connection closes; every phase of an exchange has a
/// deadline (`HTTPServerConfiguration`): a keep-alive connection idle for `idleTimeout` is
/// closed, a client that does not finish a request within `headerTimeout` gets 408 and is
/// closed, and a client that does not take a response within `writeTimeout` (it stopped
/// reading) is disconnected. Pipelined requests are parsed in place, in linear time. A HEAD
/// request gets GET's headers, Content-Length included, without the body. A bad client
/// never affects another connection. Each connection is served on its own loop.
public final class HTTPServer<Upgrade: Sendable>: Sendable {
    /// Takes over an upgraded connection. It returns `.handOver(body)` to run the
    /// connection's long phase (a WebSocket's lifetime) in a fresh task, without the memory
    /// of the HTTP exchange (see `ConnectionOutcome`), `.keepOpen` when callbacks on the
    /// connection's loop drive it from now on, or `.close` when it is done.
    /// The stream is whatever the listener accepted (`TCPConnection`, a TLS stream …).
    public typealias UpgradeHandler = @Sendable (Upgrade, HTTPUpgradeRequest<any ByteStream>) async -> ConnectionOutcome

    public let router: HTTPRouter<Upgrade>
    public let configuration: HTTPServerConfiguration
    private let upgradeHandler: UpgradeHandler
    private let counters = Mutex(HTTPServerCounters())

    public init(
        router: HTTPRouter<Upgrade>,
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        upgrade: @escaping UpgradeHandler
    ) {
        self.router = router
        self.configuration = configuration
        self.upgradeHandler = upgrade
    }

    /// What the server has answered so far.
    public var statistics: HTTPServerCounters { counters.withLock { $0 } }

    /// Serves connections from `listener` until it closes (see
    /// `ByteStreamListener.serveHandingOver`). An upgraded connection's long phase runs in a
    /// fresh task of the listener's group.
    public func serve<Listener: ByteStreamListener>(_ listener: Listener) async throws {
        try await listener.serveHandingOver({ connection in
            await self.exchangeAndUpgrade(connection)
        })
    }

    /// Serves one connection until it closes, errs, or its upgrade handler finishes (in
    /// the calling task). Cancelling the calling task during the upgrade's long phase
    /// closes the connection, as `ByteStreamListener.serveHandingOver` does for its
    /// hand-overs.
    public func handle<Stream: ByteStream>(_ connection: Stream) async {
        let body: @Sendable () async -> Void
        switch await exchangeAndUpgrade(connection) {
        case .close: return
        case .keepOpen: return await connection.waitUntilClosed()
        case .handOver(let handOver): body = handOver
        }
        await withTaskCancellationHandler {
            await body()
        } onCancel: {
            connection.closeForCancellationSoon()
        }
    }

    /// Runs the HTTP exchange, then the upgrade handler's first phase if a request was
    /// routed to an upgrade. The exchange's state (parser buffers, request bytes) is gone
    /// by the time the upgrade handler runs.
    private func exchangeAndUpgrade<Stream: ByteStream>(_ connection: Stream) async -> ConnectionOutcome {
        guard let (upgrade, handoff) = await exchange(connection) else { return .close }
        counters.withLock { $0.upgrades += 1 }
        return await upgradeHandler(upgrade, handoff)
    }

    /// What an HTTP exchange ended with when it was not an upgrade: nothing to do.
    private typealias Upgraded = (Upgrade, HTTPUpgradeRequest<any ByteStream>)

    /// Answers requests until the connection ends (nil) or a request is routed to an
    /// upgrade (returned, with the bytes that followed it).
    ///
    /// Every phase has a deadline, kept by one timer per connection (`ExchangeDeadline`):
    /// `idleTimeout` while waiting for a request's first byte, `headerTimeout` from then
    /// until the request is complete, `writeTimeout` for the response. Only waits are timed:
    /// a request already in hand is parsed and answered without touching the timer, beyond
    /// the response's write. Pipelined requests are parsed in place in the read that carried
    /// them; only an upgrade's leftover bytes are copied, once.
    private func exchange<Stream: ByteStream>(_ connection: Stream) async -> Upgraded? {
        var parser = HTTPRequestParser(limits: configuration.limits)
        var iterator = connection.inbound.makeAsyncIterator()
        // The latest read, and how much of it the parser has taken.
        var input: [UInt8] = []
        var parsed = 0
        let deadline = ExchangeDeadline(on: connection.eventLoop) { [self] phase in self.deadlinePassed(phase, connection) }
        defer { deadline.close() }
        // Whether the current request's `headerTimeout` is running: it starts once per
        // request, so a client that trickles bytes cannot extend it.
        var requestTimed = false
        while true {
            var outcome = HTTPParseResult.needMoreData
            while case .needMoreData = outcome {
                if parsed == input.count {
                    let started = parser.hasPartialRequest
                    if !started {
                        deadline.start(.idle, after: configuration.idleTimeout)
                    } else if !requestTimed {
                        deadline.start(.request, after: configuration.headerTimeout)
                        requestTimed = true
                    }
                    // Safe to drop: a read error (peer reset, timeout close) ends this connection like EOF.
                    guard let next = try? await iterator.next(), !deadline.hasExpired else { return nil }
                    (input, parsed) = (next, 0)
                    if !started {
                        // The first byte of a request starts its (shorter) head timeout.
                        deadline.start(.request, after: configuration.headerTimeout)
                        requestTimed = true
                    }
                }
                outcome = input.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[parsed...])) }
                if case .needMoreData = outcome { parsed = input.count }
            }
            requestTimed = false
            switch outcome {
            case .needMoreData:
                continue
            case .failure(let error):
                count(error.status)
                _ = await send(HTTPResponse.error(error.status).serialize() ?? [], on: connection, deadline: deadline, thenShutdown: true)
                return nil
            case .request(let request, let consumed):
                parsed += consumed
                let route = router.route(request)
                if case .upgrade(let upgrade, let parameters) = route {
                    deadline.stop()
                    let leftover = Array(input[parsed...])
                    return (upgrade, HTTPUpgradeRequest<any ByteStream>(stream: connection, request: request, parameters: parameters, leftover: leftover))
                }
                let keepGoing = await respond(to: request, routed: route, on: connection, deadline: deadline)
                if !keepGoing { return nil }
            }
        }
    }

    /// Answers one request, routed once by `exchange`. Returns whether the connection stays
    /// open for another.
    private func respond(to request: HTTPRequest, routed route: HTTPRouteMatch<Upgrade>, on connection: some ByteStream,
                         deadline: ExchangeDeadline) async -> Bool {
        var response: HTTPResponse
        switch route {
        case .upgrade:
            return false // handled by `exchange`
        case .respond(let fixed):
            response = fixed
        case .handler(let handler, let parameters):
            deadline.stop() // the handler is the server's own code: it has no deadline here
            response = await handler(request, parameters)
        case .staticFile(let file):
            response = StaticFileReader.response(for: file, maxBytes: configuration.maxStaticFileBytes)
        }
        let keepAlive = request.keepAlive && !response.headers.containsToken("close", inField: "Connection")
        if !keepAlive && !response.headers.containsToken("close", inField: "Connection") {
            response.headers.add(name: "Connection", value: "close")
        }
        count(response.status)
        guard let bytes = response.serialize(omittingBody: request.method == .head) else {
            _ = await send(HTTPResponse.error(.internalServerError).serialize() ?? [], on: connection, deadline: deadline, thenShutdown: true)
            return false
        }
        let sent = await send(bytes, on: connection, deadline: deadline, thenShutdown: !keepAlive)
        return sent && keepAlive
    }

    /// Writes `bytes` (then half-closes, if asked) within `writeTimeout`: a client that
    /// does not take its response in time (it stopped reading, so the write waits above
    /// the write watermark) is disconnected, which frees what was queued for it in Eddy
    /// and in the kernel. Returns whether everything was written.
    private func send(_ bytes: [UInt8], on connection: some ByteStream, deadline: ExchangeDeadline, thenShutdown: Bool) async -> Bool {
        deadline.start(.response, after: configuration.writeTimeout)
        defer { deadline.stop() }
        do {
            try await connection.write(bytes)
            if thenShutdown { try await connection.shutdownWrite() }
            return !deadline.hasExpired
        } catch {
            return false // the connection closed: the deadline, the peer, or shutdown
        }
    }

    /// What a passed deadline does, on the connection's loop: close the connection; for a
    /// request that had started, answer 408 first (queued without waiting, so a client that
    /// does not read cannot delay the close) and close 100 ms later.
    private func deadlinePassed(_ phase: ExchangeDeadline.Phase, _ connection: some ByteStream) {
        let loop = connection.eventLoop
        switch phase {
        case .idle:
            break
        case .request:
            count(.requestTimeout)
            // Safe to drop: the 408 is a courtesy to a client that stalled; the connection closes either way.
            if let bytes = HTTPResponse.error(.requestTimeout).serialize(), (try? connection.writeWithoutWaiting(bytes)) != nil {
                Task(executorPreference: loop) { try? await connection.shutdownWrite() } // as above
                loop.schedule(after: .milliseconds(100)) { // let the 408 reach the client
                    Task(executorPreference: loop) { await connection.close() }
                }
                return
            }
        case .response:
            counters.withLock { $0.writeTimeouts += 1 }
        }
        Task(executorPreference: loop) { await connection.close() }
    }

    private func count(_ status: HTTPStatus) {
        counters.withLock { $0.record(status) }
    }
}

/// Responses an `HTTPServer` has sent, by status class, plus upgrades.
public struct HTTPServerCounters: Sendable, Hashable {
    public var responses: [Int: Int] = [:]
    public var upgrades = 0
    /// Connections closed because the client did not take a response within
    /// `HTTPServerConfiguration.writeTimeout`.
    public var writeTimeouts = 0

    mutating func record(_ status: HTTPStatus) { responses[status.code, default: 0] += 1 }
}
