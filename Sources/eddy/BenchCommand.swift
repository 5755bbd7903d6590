import ArgumentParser
import EddyLoop
import EddyNet
import EddyWebSocket
import Histogram
import Synchronization

/// `eddy bench`: a WebSocket load generator on Eddy's own runtime. It drives any echo
/// server (Eddy, SwiftNIO, Node `ws` …): each connection keeps `--in-flight` messages
/// outstanding and measures each round trip; latencies go into an HdrHistogram. It prints one
/// RESULT line, or JSON, and optionally the whole distribution (`BenchReportOptions`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a WebSocket echo server: messages/s and round-trip latency percentiles."
    )

    @Argument(help: "Server URL, e.g. ws://127.0.0.1:9001/ (or wss://)") var url: String
    @Option(help: "Concurrent connections.") var connections = 100
    @Option(help: "Messages outstanding per connection.") var inFlight = 1
    @Option(help: "Message size in bytes.") var payload = 32
    @Option(help: "Measured seconds.") var duration = 5.0
    @Option(help: "Unmeasured warm-up seconds.") var warmup = 1.0
    @Option(help: "Event loops for the load generator (default: one per core).") var loops = EventLoopGroup.coreCount
    @Flag(help: "Offer permessage-deflate.") var deflate = false
    @Flag(help: "Send JSON-like text messages instead of binary ones.") var text = false
    @OptionGroup var tls: ClientTLSOptions
    @OptionGroup(title: "Report") var report: BenchReportOptions

    func validate() throws {
        guard connections > 0, inFlight > 0, payload >= 0, duration > 0, warmup >= 0 else {
            throw ValidationError("connections and in-flight must be positive, payload and warm-up non-negative")
        }
    }

    func run() async throws {
        let distributionFile = try report.openDistributionFile()
        let group = try EventLoopGroup(loopCount: loops)
        var client = WebSocketClientConfiguration()
        client.deflate.isEnabled = deflate
        client.tls = try tls.clientContext() // one context for every connection
        client.connection.keepAlive = .disabled
        client.connection.maxMessageSize = max(1 << 20, payload * 2)
        client.connection.maxFrameSize = client.connection.maxMessageSize
        let message: WebSocketMessage = text ? .text(BenchPayload.jsonLike(size: payload)) : .binary(BenchPayload.binary(size: payload))
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start + .milliseconds(Int(warmup * 1000))
        let measureUntil = measureFrom + .milliseconds(Int(duration * 1000))
        let window = BenchWindow(from: measureFrom, until: measureUntil)

        let settings = client
        let (url, inFlight, connections) = (self.url, self.inFlight, self.connections)
        let progress = report.showsProgress ? RunProgress() : nil
        let results = try await withProgressLines(enabled: progress != nil, noun: "messages", warmup: measureFrom - start, read: {
            ProgressSnapshot(messages: progress?.messages.load(ordering: .relaxed) ?? 0, errors: progress?.errors.load(ordering: .relaxed) ?? 0)
        }) {
            try await withThrowingTaskGroup(of: ConnectionResult.self) { tasks in
                for index in 0..<connections {
                    let loop = group.loops[index % group.loops.count]
                    tasks.addTask(executorPreference: loop) {
                        try await Self.drive(url: url, client: settings, loop: loop, message: message,
                                             inFlight: inFlight, window: window, progress: progress)
                    }
                }
                var merged = ConnectionResult()
                for try await result in tasks { merged.merge(result) }
                return merged
            }
        }
        await group.shutdown()
        if report.json {
            try report.printJSON(summary(results))
        } else {
            Console.out(resultLine(results))
        }
        try distributionFile?.write(results.histogram) // after the summary: a failed write loses no figures
        if results.errors > 0 && results.messages == 0 { throw ExitCode(1) }
    }

    /// The `RESULT key=value …` line (the Benchmarks scripts parse it; keep its fields).
    func resultLine(_ results: ConnectionResult) -> String {
        let rate = Int((Double(results.messages) / duration).rounded())
        let h = results.histogram
        func us(_ p: Double) -> String { Self.microseconds(h.valueAtPercentile(p)) }
        var fields = ["RESULT", "url=\(url)", "connections=\(connections)", "in_flight=\(inFlight)", "payload=\(payload)"]
        fields += ["mode=\(text ? "text" : "binary")", "deflate=\(deflate ? "offered" : "off")"]
        fields += ["negotiated=\(results.compressed)/\(connections)", "seconds=\(duration)", "messages=\(results.messages)"]
        fields += ["msgs_per_sec=\(rate)", "p50_us=\(us(50))", "p99_us=\(us(99))", "p999_us=\(us(99.9))"]
        fields += ["max_us=\(us(100))", "errors=\(results.errors)"]
        return fields.joined(separator: " ")
    }

    /// The `--json` summary: the RESULT line's fields as numbers, the configuration, and the
    /// latency percentiles.
    func summary(_ results: ConnectionResult) -> BenchSummary {
        BenchSummary(url: url, connections: connections, inFlight: inFlight, payload: payload, mode: text ? "text" : "binary",
                     deflate: deflate ? "offered" : "off", negotiated: results.compressed, seconds: duration, warmup: warmup,
                     loops: loops, messages: results.messages, msgsPerSec: Int((Double(results.messages) / duration).rounded()),
                     errors: results.errors, latencySamples: results.histogram.totalCount,
                     latency: LatencyPercentiles(results.histogram))
    }

    /// Nanoseconds as microseconds with one decimal.
    static func microseconds(_ nanoseconds: UInt64) -> String {
        let tenths = (nanoseconds + 50) / 100
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Runs one connection: keeps `inFlight` messages outstanding until the window ends.
    static func drive(url: String, client: WebSocketClientConfiguration, loop: EventLoop, message: WebSocketMessage,
                      inFlight: Int, window: BenchWindow, progress: RunProgress?) async throws -> ConnectionResult {
        var result = ConnectionResult()
        let socket: WebSocket
        do {
            socket = try await WebSocket.connect(to: url, configuration: client, on: loop)
        } catch {
            result.errors += 1
            progress?.errors.add(1, ordering: .relaxed)
            return result
        }
        if socket.isCompressed { result.compressed = 1 }
        let clock = ContinuousClock()
        var sent = SendTimes(capacity: inFlight)
        do {
            for _ in 0..<inFlight {
                sent.push(clock.now)
                try await socket.send(message)
            }
            var stopping = false
            for try await reply in socket.messages {
                let now = clock.now
                guard let sentAt = sent.pop() else { break }
                progress?.messages.add(1, ordering: .relaxed)
                if reply != message {
                    result.errors += 1
                    progress?.errors.add(1, ordering: .relaxed)
                }
                if now >= window.from && sentAt >= window.from && now <= window.until {
                    result.messages += 1
                    _ = result.histogram.record(UInt64(max(0, (now - sentAt) / .nanoseconds(1))))
                }
                if now > window.until { stopping = true }
                if !stopping {
                    sent.push(now)
                    try await socket.send(message)
                } else if sent.isEmpty {
                    break
                }
            }
        } catch {
            result.errors += 1
            progress?.errors.add(1, ordering: .relaxed)
        }
        await socket.close()
        return result
    }
}

/// `eddy bench --json`: one object, keys sorted; latencies in microseconds.
struct BenchSummary: Codable {
    let url: String
    let connections: Int
    let inFlight: Int
    let payload: Int
    /// "binary" or "text".
    let mode: String
    /// "offered" or "off".
    let deflate: String
    /// Connections that negotiated permessage-deflate.
    let negotiated: Int
    /// Measured seconds.
    let seconds: Double
    let warmup: Double
    let loops: Int
    /// Round trips measured.
    let messages: Int
    let msgsPerSec: Int
    let errors: Int
    /// Latencies in the histogram (the measured round trips).
    let latencySamples: UInt64
    let latency: LatencyPercentiles

    enum CodingKeys: String, CodingKey {
        case url, connections, inFlight = "in_flight", payload, mode, deflate, negotiated, seconds, warmup, loops, messages
        case msgsPerSec = "msgs_per_sec", errors, latencySamples = "latency_samples", latency = "latency_us"
    }
}

/// The measured interval, shared by every connection.
struct BenchWindow: Sendable {
    let from: ContinuousClock.Instant
    let until: ContinuousClock.Instant
}

/// What one connection measured; merged across connections at the end.
struct ConnectionResult: Sendable {
    var messages = 0
    var errors = 0
    var compressed = 0
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func merge(_ other: ConnectionResult) {
        messages += other.messages
        errors += other.errors
        compressed += other.compressed
        histogram.add(other.histogram)
    }
}

/// Send times of outstanding messages, oldest first (an echo server answers in order).
struct SendTimes {
    private var times: [ContinuousClock.Instant]
    private var head = 0
    private var count = 0

    init(capacity: Int) { times = Array(repeating: ContinuousClock.now, count: max(1, capacity)) }

    var isEmpty: Bool { count == 0 }

    mutating func push(_ time: ContinuousClock.Instant) {
        if count == times.count {
            // More outstanding than planned (cannot happen with an echo server); grow.
            times = (0..<count).map { times[(head + $0) % times.count] } + [time]
            head = 0
            count += 1
            return
        }
        times[(head + count) % times.count] = time
        count += 1
    }

    mutating func pop() -> ContinuousClock.Instant? {
        guard count > 0 else { return nil }
        let time = times[head]
        head = (head + 1) % times.count
        count -= 1
        return time
    }
}

/// Benchmark payloads.
enum BenchPayload {
    static func binary(size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    /// A JSON-like text of exactly `size` bytes, shaped like a dashboard event stream.
    static func jsonLike(size: Int) -> String {
        var out = ""
        var i = 0
        while out.utf8.count < size {
            out += #"{"type":"node_state","dag_id":"research-\#(i % 7)","node_id":"node-\#(i)","status":"running","seq":\#(1000 + i)},"#
            i += 1
        }
        return String(decoding: Array(out.utf8.prefix(size)), as: UTF8.self)
    }
}
