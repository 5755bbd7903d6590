import EddyDAGStream
import EddyHTTP
import EddyLoop
import EddyMetrics
import EddyNet
import EddyWebSocket
import EddyShared

/// The server's `GET /metrics`: folds the loops' tallies, then renders the exposition; and the
/// optional token-free listener on its own port. Lives as long as its `DAGStreamServer`.
final class MetricsEndpoint: Sendable {
    let configuration: DAGServerMetricsConfiguration
    private let folder = TallyFolder()
    private let state = Mutex<(group: EventLoopGroup?, listener: TCPListener?, serving: Task<Void, Never>?)>((nil, nil, nil))

    init(configuration: DAGServerMetricsConfiguration) {
        self.configuration = configuration
    }

    /// Adds `GET /metrics`, for operators only (`gateway.operatorRefusal`).
    func install(into router: inout HTTPRouter<WebSocketRoute>, gateway: DAGStreamGateway) throws {
        try router.add(.get, "/metrics") { [self] request, _ in
            if let refusal = gateway.operatorRefusal(request) { return refusal }
            return await scrape()
        }
    }

    /// Starts folding on `group`'s loops and, with a metrics port, its listener.
    func start(group: EventLoopGroup, host: String) async throws {
        state.withLock { $0.group = group }
        folder.startFolding(on: group, every: configuration.foldInterval)
        guard let port = configuration.port else { return }
        var router = HTTPRouter<WebSocketRoute>()
        try router.add(.get, "/metrics") { [self] _, _ in await scrape() }
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let listener = try await TCPListener.bind(host: host, port: port, group: group)
        let serving = Task<Void, Never>(executorPreference: listener.eventLoop) { _ = try? await server.serve(listener) }
        state.withLock {
            $0.listener = listener
            $0.serving = serving
        }
    }

    /// The metrics listener's bound port, if there is one.
    var port: Int? { state.withLock { $0.listener?.localAddress.port } }

    /// Stops the metrics listener (the folding timers end with the loops).
    func stop() async {
        let (listener, serving) = state.withLock { ($0.listener, $0.serving) }
        await listener?.close()
        serving?.cancel()
        await serving?.value
    }

    private func scrape() async -> HTTPResponse {
        if let group = state.withLock({ $0.group }) { await folder.foldNow(on: group) }
        return HTTPResponse(status: .ok, headers: ["Content-Type": configuration.contentType, "Cache-Control": "no-store",
                                                   "X-Content-Type-Options": "nosniff"],
                            body: configuration.exposition())
    }
}
