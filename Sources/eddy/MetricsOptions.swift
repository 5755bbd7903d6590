import ArgumentParser
import EddyDAGServer
import EddyLoop
import EddyMetrics
import Metrics
import Prometheus

/// `--no-metrics` and `--metrics-port`, for the servers. Metrics are on by default: the
/// libraries record through swift-metrics, which this command bootstraps with a Prometheus
/// registry; `--no-metrics` leaves swift-metrics unbootstrapped and turns the loops'
/// tallies off, so a benchmark can compare.
struct MetricsOptions: ParsableArguments {
    @Flag(help: "Turn metrics off: no /metrics, no per-loop tallies (to compare in benchmarks).")
    var noMetrics = false
    @Option(help: "Also serve GET /metrics without a token on this port of the same host (0: any free port; printed as METRICS <port>).")
    var metricsPort: Int?

    func validate() throws {
        if noMetrics && metricsPort != nil { throw ValidationError("give --no-metrics or --metrics-port, not both") }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535") }
    }

    /// Bootstraps metrics (or turns the tallies off) and returns the stream server's settings.
    func serverConfiguration() -> DAGServerMetricsConfiguration? {
        guard PrometheusExposition.start(enabled: !noMetrics) else { return nil }
        var configuration = DAGServerMetricsConfiguration(exposition: PrometheusExposition.render)
        configuration.port = metricsPort
        return configuration
    }
}

/// The process's Prometheus registry behind swift-metrics.
enum PrometheusExposition {
    static let registry = PrometheusCollectorRegistry()

    /// With `enabled`, bootstraps swift-metrics with Prometheus (buckets sized for Eddy's
    /// histograms); otherwise turns the per-loop tallies off. Call once, before any loop
    /// starts. Returns `enabled`.
    @discardableResult
    static func start(enabled: Bool) -> Bool {
        guard enabled else {
            LoopTally.setEnabled(false)
            return false
        }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["eddy_event_log_append_duration_seconds"] =
            [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000].map { Duration.microseconds($0) }
        factory.valueHistogramBuckets["eddy_event_log_batch_events"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        MetricsSystem.bootstrap(factory)
        return true
    }

    /// The text format (0.0.4) of everything registered.
    @Sendable static func render() -> [UInt8] { registry.emitToBuffer() }
}
