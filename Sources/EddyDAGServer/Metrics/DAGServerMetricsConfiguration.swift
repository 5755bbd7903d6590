/// How a `DAGStreamServer` exposes the process's metrics (`DAGStreamServerConfiguration.metrics`).
/// The server knows no metrics backend: whoever bootstrapped swift-metrics (the `eddy` command
/// bootstraps Prometheus) hands it `exposition`, which renders the scrape.
///
/// Guarantees: with an exposition, `GET /metrics` on the server's port answers only requests
/// with an operator token (401 without a valid token, 403 with a viewer's); with `port`, a
/// second listener on the same host serves `GET /metrics` (and nothing else) without a token.
/// Before each scrape, every loop's tallies are folded, so a scrape sees all counts up to it.
public struct DAGServerMetricsConfiguration: Sendable {
    /// Renders the metrics for a scrape (for Prometheus, the registry's text format).
    public var exposition: @Sendable () -> [UInt8]
    /// The scrape's `Content-Type`. Default: Prometheus's text format 0.0.4.
    public var contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// How often each loop folds its tallies into swift-metrics (`TallyFolder`), so that a
    /// backend that pushes, or reads between scrapes, is at most this far behind. Default 1 s.
    public var foldInterval: Duration = .seconds(1)
    /// A separate port, on the configured host, that serves `GET /metrics` without a token
    /// (0: any free port; read `DAGStreamServer.metricsPort`). Default nil: none.
    public var port: Int? = nil

    public init(exposition: @escaping @Sendable () -> [UInt8]) {
        self.exposition = exposition
    }
}
