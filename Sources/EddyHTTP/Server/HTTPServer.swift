import EddyLoop
public import EddyNet
import Glibc
import Synchronization

/// Serves HTTP/1.1 on a listener: parses requests with the bounded sans-IO parser,
/// routes them, answers plain requests (with keep-alive), serves static files, and hands
/// upgrade requests to an upgrade handler together with their stream.
///
/// Guarantees: every malformed or oversized request gets its exact status (400, 405,
/// 413, 414, 431, 501 …) and the connection closes; a client that does not finish a
/// request head within `headerTimeout` gets 408 and is closed; a bad client never affects
/// another connection. Each connection is served on its own loop.
public final class HTTPServer<Upgrade: Sendable>: Sendable {
    /// Takes over an upgraded connection. It returns `.handOver(body)` to run the
    /// connection's long phase (a WebSocket's lifetime) in a fresh task, without the memory
    /// of the HTTP exchange (see `ConnectionOutcome`), `.keepOpen` when callbacks on the
    /// connection's loop drive it from now on, or `.close` when it is done.
    public typealias UpgradeHandler = @Sendable (Upgrade, HTTPUpgradeRequest<TCPConnection>) async -> ConnectionOutcome

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

    /// Serves connections from `listener` until it closes (see `TCPListener.serve`). An
    /// upgraded connection's long phase runs in a fresh task of the listener's group.
    public func serve(_ listener: TCPListener) async throws {
        try await listener.serveHandingOver({ connection in
            await self.exchangeAndUpgrade(connection)
        })
    }

    /// Serves one connection until it closes, errs, or its upgrade handler finishes (in
    /// the calling task). Cancelling the calling task during the upgrade's long phase
    /// closes the connection, as `TCPListener.serveHandingOver` does for its hand-overs.
    public func handle(_ connection: TCPConnection) async {
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
    private func exchangeAndUpgrade(_ connection: TCPConnection) async -> ConnectionOutcome {
        guard let (upgrade, handoff) = await exchange(connection) else { return .close }
        counters.withLock { $0.upgrades += 1 }
        return await upgradeHandler(upgrade, handoff)
    }

    /// What an HTTP exchange ended with when it was not an upgrade: nothing to do.
    private typealias Upgraded = (Upgrade, HTTPUpgradeRequest<TCPConnection>)

    /// Answers requests until the connection ends (nil) or a request is routed to an
    /// upgrade (returned, with the bytes that followed it).
    private func exchange(_ connection: TCPConnection) async -> Upgraded? {
        var parser = HTTPRequestParser(limits: configuration.limits)
        var iterator = connection.inbound.makeAsyncIterator()
        var pending: [UInt8] = []
        let loop = connection.eventLoop
        while true {
            // One deadline per request: idle until the first byte, then the head timeout.
            let timedOut = TimeoutFlag()
            let limit = pending.isEmpty && !parser.hasPartialRequest ? configuration.idleTimeout : configuration.headerTimeout
            var deadline = arm(limit, on: loop, connection: connection, flag: timedOut, parserHadBytes: !pending.isEmpty)
            var outcome = HTTPParseResult.needMoreData
            var chunk: [UInt8] = []
            while case .needMoreData = outcome {
                if !pending.isEmpty {
                    swap(&chunk, &pending)
                } else {
                    guard let next = try? await iterator.next() else {
                        deadline.cancel()
                        return nil
                    }
                    chunk = next
                    if !parser.hasPartialRequest {
                        // The first byte of a request starts the (shorter) head timeout.
                        deadline.cancel()
                        deadline = arm(configuration.headerTimeout, on: loop, connection: connection, flag: timedOut, parserHadBytes: true)
                    }
                }
                outcome = parser.parse(chunk)
            }
            deadline.cancel()
            if timedOut.isSet { return nil }
            switch outcome {
            case .needMoreData:
                continue
            case .failure(let error):
                count(error.status)
                _ = try? await connection.write(HTTPResponse.error(error.status).serialize() ?? [])
                try? await connection.shutdownWrite()
                return nil
            case .request(let request, let consumed):
                pending = Array(chunk[consumed...])
                if case .upgrade(let upgrade, let parameters) = router.route(request) {
                    return (upgrade, HTTPUpgradeRequest(stream: connection, request: request, parameters: parameters, leftover: pending))
                }
                let keepGoing = await respond(to: request, on: connection)
                if !keepGoing { return nil }
            }
        }
    }

    /// Answers one request. Returns whether the connection stays open for another.
    private func respond(to request: HTTPRequest, on connection: TCPConnection) async -> Bool {
        var response: HTTPResponse
        switch router.route(request) {
        case .upgrade:
            return false // handled by `exchange`
        case .respond(let fixed):
            response = fixed
        case .handler(let handler, let parameters):
            response = await handler(request, parameters)
        case .staticFile(let file):
            response = StaticFileReader.response(for: file, maxBytes: configuration.maxStaticFileBytes)
        }
        let keepAlive = request.keepAlive && !response.headers.containsToken("close", inField: "Connection")
        if !keepAlive && !response.headers.containsToken("close", inField: "Connection") {
            response.headers.add(name: "Connection", value: "close")
        }
        if request.method == .head { response = response.headOnly() }
        count(response.status)
        guard let bytes = response.serialize() else {
            _ = try? await connection.write(HTTPResponse.error(.internalServerError).serialize() ?? [])
            return false
        }
        do { try await connection.write(bytes) } catch { return false }
        if !keepAlive { try? await connection.shutdownWrite() }
        return keepAlive
    }

    /// Closes the connection at `limit`, answering 408 first if a request had started.
    private func arm(_ limit: Duration, on loop: EventLoop, connection: TCPConnection, flag: TimeoutFlag, parserHadBytes: Bool) -> ScheduledWork {
        loop.schedule(after: limit) { [self] in
            flag.set()
            Task(executorPreference: loop) {
                if parserHadBytes {
                    self.count(.requestTimeout)
                    _ = try? await connection.write(HTTPResponse.error(.requestTimeout).serialize() ?? [])
                    try? await connection.shutdownWrite()
                    try? await loop.sleep(for: .milliseconds(100)) // let the 408 reach the client
                }
                await connection.close()
            }
        }
    }

    private func count(_ status: HTTPStatus) {
        counters.withLock { $0.record(status) }
    }
}

/// Responses an `HTTPServer` has sent, by status class, plus upgrades.
public struct HTTPServerCounters: Sendable, Hashable {
    public var responses: [Int: Int] = [:]
    public var upgrades = 0

    mutating func record(_ status: HTTPStatus) { responses[status.code, default: 0] += 1 }
}

extension HTTPResponse {
    /// The same response without its body but with the body's Content-Length (HEAD).
    func headOnly() -> HTTPResponse {
        var copy = self
        copy.headers.add(name: "Content-Length", value: String(body.count))
        copy.body = []
        return copy
    }
}

/// Set once when a request deadline fires.
final class TimeoutFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
