import ArgumentParser
import Foundation
import Glibc
import Histogram

/// The report options `eddy bench` and `eddy fanout` share: where the full latency
/// distribution goes, whether the summary is JSON, and whether progress lines are printed.
struct BenchReportOptions: ParsableArguments {
    @Option(name: .customLong("histogram"), help: ArgumentHelp(
        "Write the full latency distribution to FILE ('-': stdout), values in microseconds, as HdrHistogram's percentile-distribution text (what its plotter reads).",
        valueName: "FILE"))
    var histogramPath: String?

    @Flag(help: "Print the summary as one JSON object (latencies in microseconds) instead of the RESULT line.")
    var json = false

    @Flag(help: "Print a progress line on stderr every second (the default when stderr is a terminal).")
    var progress = false

    @Flag(help: "Print no progress lines, even on a terminal.")
    var quiet = false

    func validate() throws {
        if progress && quiet { throw ValidationError("--progress and --quiet contradict each other") }
        if json && histogramPath == "-" {
            throw ValidationError("--json and --histogram - would both write to stdout; give --histogram a file")
        }
        if histogramPath?.isEmpty == true { throw ValidationError("--histogram needs a file name ('-' for stdout)") }
    }

    /// Whether progress lines go to stderr: asked for, or stderr is a terminal and not `--quiet`.
    var showsProgress: Bool { progress || (!quiet && isatty(STDERR_FILENO) == 1) }

    /// Opens the `--histogram` destination (nil without the option), before the run starts, so
    /// that a path that cannot be written fails at once rather than after the measurement.
    func openDistributionFile() throws -> LatencyDistributionFile? {
        guard let histogramPath else { return nil }
        return try LatencyDistributionFile(path: histogramPath)
    }

    /// Prints `summary` as one line of JSON with sorted keys (for `--json`).
    func printJSON(_ summary: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        Console.out(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}

/// Where `--histogram` writes: a file opened (created or truncated) up front, or stdout.
final class LatencyDistributionFile {
    /// Why the distribution could not be written, with the path and the system's reason.
    struct WriteError: Error, CustomStringConvertible {
        let description: String
    }

    private let path: String
    private let descriptor: Int32
    private let ownsDescriptor: Bool

    init(path: String) throws {
        self.path = path
        if path == "-" {
            (descriptor, ownsDescriptor) = (STDOUT_FILENO, false)
            return
        }
        let opened = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw WriteError(description: "cannot write the latency distribution to \(path): \(String(cString: strerror(errno)))")
        }
        (descriptor, ownsDescriptor) = (opened, true)
    }

    deinit { if ownsDescriptor { Glibc.close(descriptor) } }

    /// Writes `histogram` (recorded in nanoseconds) with the library's percentile-distribution
    /// output, scaled to microseconds.
    func write(_ histogram: Histogram<UInt64>) throws {
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw WriteError(description: "cannot write the latency distribution to \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

/// Latency percentiles in microseconds, the `latency_us` object of the JSON summaries.
struct LatencyPercentiles: Codable, Equatable {
    let p50: Double
    let p90: Double
    let p99: Double
    /// The 99.9th percentile (`p999`, as the RESULT line's `p999_us`).
    let p999: Double
    let max: Double
    let mean: Double

    /// The percentiles of `histogram`, which holds nanoseconds.
    init(_ histogram: Histogram<UInt64>) {
        func us(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        p50 = us(histogram.valueAtPercentile(50))
        p90 = us(histogram.valueAtPercentile(90))
        p99 = us(histogram.valueAtPercentile(99))
        p999 = us(histogram.valueAtPercentile(99.9))
        max = us(histogram.valueAtPercentile(100))
        mean = histogram.mean.rounded() / 1000 // whole nanoseconds, as the other fields
    }
}
