import EddyShared
import EddyTestSupport
import Foundation
import Testing

/// `eddy bench` and `eddy fanout`'s reports, run as users run them: the built binary against
/// a real `eddy echo` (`--broadcast` for fanout), for about a second each. Only the shape and
/// the consistency of what they print are checked, never a timing.
@Suite("eddy bench and eddy fanout: --histogram, --json, progress lines", .timeLimit(.minutes(2)))
struct BenchReportCommandTests {
    /// A short, light run: two connections on one loop.
    static let shortBench = ["--connections", "2", "--loops", "1", "--duration", "1", "--warmup", "0.2"]
    static let shortFanout = ["--subscribers", "3", "--loops", "1", "--rate", "200", "--duration", "1", "--warmup", "0.2"]

    /// The RESULT line's keys, in order; Benchmarks/scripts parse them.
    static let benchResultKeys = ["url", "connections", "in_flight", "payload", "mode", "deflate", "negotiated", "seconds",
                                  "messages", "msgs_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "errors"]
    static let fanoutResultKeys = ["url", "subscribers", "stalled", "payload", "mode", "seconds", "published", "deliveries",
                                   "deliveries_per_sec", "p50_us", "p99_us", "p999_us", "out_of_order", "errors"]

    @Test func benchWritesTheDistributionAndAJSONSummary() async throws {
        let (server, port) = try await startEddyServer(["echo", "--port", "0"])
        defer { stopServer(server) }
        let scratch = try ScratchLog()
        defer { scratch.remove() }
        let histogramPath = scratch.directory.appendingPathComponent("bench.hgrm").path
        let url = "ws://127.0.0.1:\(port)/"
        let run = try await runEddy(["bench", url, "--json", "--histogram", histogramPath] + Self.shortBench)
        #expect(run.status == 0, "\(run)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 1, "one JSON object and nothing else on stdout: \(run.stdout)")
        let summary = try JSONDecoder().decode(BenchJSON.self, from: Data(run.stdout.utf8))
        #expect(summary.url == url && summary.connections == 2 && summary.in_flight == 1 && summary.loops == 1)
        #expect(summary.mode == "binary" && summary.deflate == "off" && summary.errors == 0)
        #expect(summary.messages > 0 && summary.latency_samples == UInt64(summary.messages))
        #expect(summary.msgs_per_sec == Int((Double(summary.messages) / summary.seconds).rounded()))
        expectOrdered(summary.latency_us)

        let distribution = try PercentileDistribution(contentsOf: histogramPath)
        #expect(distribution.totalCount == summary.latency_samples)
        #expect(abs(distribution.maxValue - summary.latency_us.max) <= summary.latency_us.max * 0.002 + 0.001,
                "the file's max and the summary's agree within the histogram's resolution")
        #expect(!run.stderr.contains("progress"), "no progress lines when stderr is not a terminal: \(run.stderr)")
    }

    @Test func benchResultLineIsUnchangedWithoutTheNewFlags() async throws {
        let (server, port) = try await startEddyServer(["echo", "--port", "0"])
        defer { stopServer(server) }
        let run = try await runEddy(["bench", "ws://127.0.0.1:\(port)/"] + Self.shortBench)
        #expect(run.status == 0, "\(run)")
        let fields = try resultFields(run.stdout)
        #expect(fields.map(\.key) == Self.benchResultKeys, "\(run.stdout)")
        #expect(fields.first { $0.key == "negotiated" }?.value == "0/2")
        #expect((fields.first { $0.key == "messages" }.flatMap { Int($0.value) } ?? 0) > 0, "\(run.stdout)")
        #expect(run.stderr.isEmpty, "nothing on stderr by default off a terminal: \(run.stderr)")
    }

    /// `--histogram -`: the RESULT line first (scripts still find it), then the distribution.
    @Test func histogramOnStdoutFollowsTheResultLine() async throws {
        let (server, port) = try await startEddyServer(["echo", "--port", "0"])
        defer { stopServer(server) }
        let run = try await runEddy(["bench", "ws://127.0.0.1:\(port)/", "--histogram", "-"] + Self.shortBench)
        #expect(run.status == 0, "\(run)")
        let lines = run.stdout.split(separator: "\n", maxSplits: 1)
        #expect(lines.count == 2, "\(run.stdout)")
        let fields = try resultFields(String(lines.first ?? ""))
        #expect(fields.map(\.key) == Self.benchResultKeys)
        let distribution = try PercentileDistribution(text: String(lines.last ?? ""))
        let messages = fields.first { $0.key == "messages" }.flatMap { UInt64($0.value) }
        #expect(distribution.totalCount == messages, "every measured round trip is in the distribution")
    }

    /// Progress lines: forced with --progress on a pipe, by default on a terminal, never with --quiet.
    @Test func benchPrintsProgressOnATerminalOrWhenAskedAndNotWhenQuiet() async throws {
        let (server, port) = try await startEddyServer(["echo", "--port", "0"])
        defer { stopServer(server) }
        let arguments = ["bench", "ws://127.0.0.1:\(port)/"] + Self.shortBench + ["--duration", "1.5", "--warmup", "0"]
        for (extra, onTerminal, expectsProgress) in [(["--progress"], false, true), ([], true, true), (["--quiet"], true, false)] {
            let run = try await runEddy(arguments + extra, stderrOnTerminal: onTerminal)
            #expect(run.status == 0, "\(run)")
            #expect(try resultFields(run.stdout).map(\.key) == Self.benchResultKeys, "progress never goes to stdout: \(run.stdout)")
            let progress = run.stderr.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("progress ") }
            if expectsProgress {
                #expect(!progress.isEmpty, "\(extra) terminal=\(onTerminal): \(run.stderr)")
                for line in progress {
                    let pattern = #/^progress elapsed=\d+\.\ds messages=(\d+) rate=\d+/s errors=0( \(warm-up\))?$/#
                    #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
                }
            } else {
                #expect(progress.isEmpty, "\(run.stderr)")
            }
        }
    }

    /// A --histogram path that cannot be written fails before the run: no server is needed
    /// to see it, and no RESULT line is printed.
    @Test(arguments: ["bench", "fanout"])
    func unwritableHistogramPathFailsAtOnce(command: String) async throws {
        let closed = try RefusingLoopbackPort()
        let run = try await runEddy([command, "ws://127.0.0.1:\(closed.port)/", "--histogram", "/nonexistent-eddy-dir/out.hgrm"])
        withExtendedLifetime(closed) {}
        #expect(run.status != 0)
        #expect(run.stderr.contains("cannot write the latency distribution to /nonexistent-eddy-dir/out.hgrm"), "\(run)")
        #expect(!run.stdout.contains("RESULT"), "\(run)")
    }

    @Test func fanoutWritesTheDistributionAndAJSONSummary() async throws {
        let (server, port) = try await startEddyServer(["echo", "--port", "0", "--broadcast"])
        defer { stopServer(server) }
        let scratch = try ScratchLog()
        defer { scratch.remove() }
        let histogramPath = scratch.directory.appendingPathComponent("fanout.hgrm").path
        let url = "ws://127.0.0.1:\(port)/"
        let run = try await runEddy(["fanout", url, "--json", "--histogram", histogramPath] + Self.shortFanout)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.split(separator: "\n").count == 1, "\(run.stdout)")
        let summary = try JSONDecoder().decode(FanoutJSON.self, from: Data(run.stdout.utf8))
        #expect(summary.url == url && summary.subscribers == 3 && summary.stalled == 0 && summary.mode == "rate=200")
        #expect(summary.rate == 200 && summary.errors == 0 && summary.out_of_order == 0)
        #expect(summary.published > 0 && summary.deliveries > 0 && summary.deliveries <= summary.published * 3)
        #expect(summary.latency_samples > 0 && summary.latency_samples <= UInt64(summary.deliveries))
        expectOrdered(summary.latency_us)
        let distribution = try PercentileDistribution(contentsOf: histogramPath)
        #expect(distribution.totalCount == summary.latency_samples)

        let plain = try await runEddy(["fanout", url] + Self.shortFanout)
        #expect(plain.status == 0, "\(plain)")
        #expect(try resultFields(plain.stdout).map(\.key) == Self.fanoutResultKeys, "\(plain.stdout)")
    }
}

/// The `latency_us` object of the JSON summaries.
struct LatencyJSON: Decodable {
    let p50, p90, p99, p999, max, mean: Double
}

/// `eddy bench --json`, decoded by its documented keys.
struct BenchJSON: Decodable {
    let url, mode, deflate: String
    let connections, in_flight, payload, negotiated, loops, messages, msgs_per_sec, errors: Int
    let seconds, warmup: Double
    let latency_samples: UInt64
    let latency_us: LatencyJSON
}

/// `eddy fanout --json`, decoded by its documented keys.
struct FanoutJSON: Decodable {
    let url, mode: String
    let subscribers, stalled, payload, rate, window, loops, published, deliveries, deliveries_per_sec, out_of_order, errors: Int
    let seconds, warmup: Double
    let latency_samples: UInt64
    let latency_us: LatencyJSON
}

func expectOrdered(_ latency: LatencyJSON, sourceLocation: SourceLocation = #_sourceLocation) {
    let ordered = [latency.p50, latency.p90, latency.p99, latency.p999, latency.max]
    #expect(ordered.first.map { $0 > 0 } == true && ordered == ordered.sorted(), "\(latency)", sourceLocation: sourceLocation)
    #expect(latency.mean > 0 && latency.mean <= latency.max, "\(latency)", sourceLocation: sourceLocation)
}

/// A file in HdrHistogram's percentile-distribution text, checked as its plotter reads it:
/// the column header, rows of value/percentile/total count (the last without 1/(1-p)) with
/// neither going down, percentile 1 last, then the `#[Mean` and `#[Max` footer.
struct PercentileDistribution {
    let totalCount: UInt64
    let maxValue: Double

    struct Malformed: Error, CustomStringConvertible { let description: String }

    init(contentsOf path: String) throws {
        try self.init(text: try String(contentsOfFile: path, encoding: .utf8))
    }

    init(text: String) throws {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let header = lines.first, header.split(separator: " ", omittingEmptySubsequences: true)
            == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        else { throw Malformed(description: "no column header: \(text.prefix(200))") }
        let rows = lines.dropFirst().filter { !$0.hasPrefix("#") }
        guard !rows.isEmpty else { throw Malformed(description: "no rows: \(text)") }
        var previous: (value: Double, percentile: Double, count: UInt64) = (0, 0, 0)
        for (index, row) in rows.enumerated() {
            let columns = row.split(separator: " ", omittingEmptySubsequences: true)
            let isLast = index == rows.count - 1
            guard columns.count == (isLast ? 3 : 4), let value = Double(columns[0]), let percentile = Double(columns[1]),
                  let count = UInt64(columns[2]), value >= previous.value, percentile >= previous.percentile, count >= previous.count
            else { throw Malformed(description: "bad or decreasing row \(index): \(row)") }
            previous = (value, percentile, count)
        }
        guard previous.percentile == 1 else { throw Malformed(description: "last percentile \(previous.percentile), not 1") }
        let footer = lines.filter { $0.hasPrefix("#[") }
        guard footer.contains(where: { $0.hasPrefix("#[Mean") && $0.contains("StdDeviation") }),
              let maxLine = footer.first(where: { $0.hasPrefix("#[Max") }),
              let maxValue = maxLine.split(separator: "=").dropFirst().first.flatMap({ Double($0.split(separator: ",")[0].trimmingCharacters(in: .whitespaces)) }),
              let total = maxLine.split(separator: "=").last.flatMap({ UInt64($0.trimmingCharacters(in: CharacterSet(charactersIn: " ]"))) }),
              total == previous.count
        else { throw Malformed(description: "no #[Mean/#[Max footer agreeing with the rows: \(footer)") }
        (totalCount, self.maxValue) = (total, maxValue)
    }
}

/// The key=value fields of the only line of `stdout`, which must be a RESULT line.
func resultFields(_ stdout: String) throws -> [(key: String, value: String)] {
    let lines = stdout.split(separator: "\n")
    guard lines.count == 1, let line = lines.first, line.hasPrefix("RESULT ") else {
        throw PercentileDistribution.Malformed(description: "not one RESULT line: \(stdout)")
    }
    return line.split(separator: " ").dropFirst().map { field in
        let parts = field.split(separator: "=", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
}

/// What a finished `eddy` printed, stdout and stderr apart.
struct EddyRun: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs the built `eddy` with `arguments` to completion (killed after 60 s), stderr on a
/// pseudo-terminal when `stderrOnTerminal` (its "\r\n" read back as "\n"), else on a pipe;
/// our environment with `environmentChanges` (nil removes a variable).
func runEddy(_ arguments: [String], stderrOnTerminal: Bool = false,
             environmentChanges: [String: String?] = [:]) async throws -> EddyRun {
    try await onOwnThread { () throws -> EddyRun in
        let process = ChildProcess()
        process.executableURL = eddyBinary
        process.arguments = arguments
        process.environment = environment(with: environmentChanges)
        process.standardInput = FileHandle.nullDevice
        let stdout = ChildPipe()
        process.standardOutput = stdout
        let terminal = stderrOnTerminal ? try PseudoTerminal() : nil
        let errorPipe = stderrOnTerminal ? nil : ChildPipe()
        process.standardError = terminal?.terminal ?? errorPipe
        guard let errorOutput = terminal?.controller ?? errorPipe?.fileHandleForReading else { throw ChildProcessError("no stderr") }
        try process.run()
        terminal?.closeTerminal()
        let errorBytes = Mutex<[UInt8]>([])
        let errorReader = OutputReader(errorOutput) { chunk in errorBytes.withLock { $0 += chunk } }
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { if process.isRunning { kill(pid, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }
        var output: [UInt8] = []
        while let chunk = readChunk(stdout.fileHandleForReading, upTo: 65_536) { output += chunk }
        process.waitUntilExit()
        errorReader.waitUntilDone()
        let errors = String(decoding: errorBytes.withLock { $0 }, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        return EddyRun(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self), stderr: errors)
    }
}

private func stopServer(_ server: ChildProcess) {
    server.terminate()
    server.waitUntilExit()
}
