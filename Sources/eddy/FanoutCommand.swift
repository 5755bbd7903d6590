import ArgumentParser
import EddyLoop
import EddyNet
import EddyWebSocket
import Histogram
import Synchronization

/// `eddy fanout`: a pub/sub load generator. One publisher and N subscribers connect to a
/// broadcast server (every message a client sends goes to every client, sender included:
/// `eddy echo --broadcast`, a Node `ws` broadcast loop …); the publisher sends timestamped
/// messages and every subscriber measures delivery latency. Optional stalled subscribers
/// complete the handshake and never read. Reports as `eddy bench` does (`BenchReportOptions`).
struct FanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Measure a WebSocket broadcast server: deliveries/s and delivery latency."
    )

    @Argument(help: "Broadcast server URL, e.g. ws://127.0.0.1:9001/") var url: String
    @Option(help: "Subscribers that read.") var subscribers = 1000
    @Option(help: "Subscribers that complete the handshake and never read.") var stalled = 0
    @Option(help: "Message size in bytes (at least 16).") var payload = 64
    @Option(help: "Messages per second; 0 publishes as fast as the window allows.") var rate = 0
    @Option(help: "With --rate 0: messages in flight (published, not yet delivered to every subscriber).") var window = 16
    @Option(help: "Measured seconds.") var duration = 5.0
    @Option(help: "Unmeasured warm-up seconds.") var warmup = 1.0
    @Option(help: "Event loops (default: one per core).") var loops = EventLoopGroup.coreCount
    @OptionGroup(title: "Report") var report: BenchReportOptions

    func validate() throws {
        guard subscribers > 0, stalled >= 0, payload >= 16, rate >= 0, window > 0, duration > 0 else {
            throw ValidationError("need subscribers > 0, payload >= 16, window > 0, duration > 0")
        }
    }

    func run() async throws {
        let distributionFile = try report.openDistributionFile()
        let group = try EventLoopGroup(loopCount: loops)
        let target = try WebSocketURL(url)
        let clock = ContinuousClock()
        let origin = clock.now
        let state = FanoutState(subscribers: subscribers)
        var configuration = WebSocketClientConfiguration()
        configuration.deflate.isEnabled = false
        configuration.connection.keepAlive = .disabled
        let client = configuration
        let (subscriberCount, url) = (subscribers, self.url)

        // Stalled subscribers first, so they are in the room before anything is published.
        var stalledConnections: [TCPConnection] = []
        for index in 0..<stalled {
            stalledConnections.append(try await Self.stalledSubscriber(target, on: group.loops[index % group.loops.count]))
        }
        let sockets = try await connectClients(subscriberCount, to: url, configuration: client, group: group)
        let publisherLoop = group.loops[0]
        let publisher = try await WebSocket.connect(to: url, configuration: client, on: publisherLoop)
        let measureFrom = origin.duration(to: clock.now) + .milliseconds(Int(warmup * 1000))
        let measureUntil = measureFrom + .milliseconds(Int(duration * 1000))

        let readProgress: @Sendable () -> ProgressSnapshot = {
            ProgressSnapshot(messages: state.delivered.load(ordering: .relaxed), errors: state.errors.load(ordering: .relaxed))
        }
        let remainingWarmup = measureFrom - origin.duration(to: clock.now)
        let results = try await withProgressLines(enabled: report.showsProgress, noun: "deliveries", warmup: remainingWarmup, read: readProgress) {
            try await withThrowingTaskGroup(of: SubscriberResult?.self) { tasks in
                for socket in sockets {
                    tasks.addTask(executorPreference: socket.eventLoop) {
                        try await Self.subscribe(socket, state: state, clock: clock, origin: origin, from: measureFrom, until: measureUntil)
                    }
                }
                tasks.addTask(executorPreference: publisherLoop) { // the publisher hears itself too
                    for try await _ in publisher.messages {}
                    return nil
                }
                // Publish.
                let payloadSize = payload
                try await Task(executorPreference: publisherLoop) {
                    var seq: UInt64 = 0
                    let interval: Duration? = rate > 0 ? .nanoseconds(1_000_000_000 / rate) : nil
                    var next = clock.now
                    while origin.duration(to: clock.now) < measureUntil {
                        if let interval {
                            next += interval
                            try await clock.sleep(until: next)
                        } else {
                            // Windowed: wait (bounded) until the window has room.
                            var spins = 0
                            while state.delivered.load(ordering: .relaxed) + window * subscriberCount < Int(seq) * subscriberCount, spins < 10_000 {
                                try await publisherLoop.sleep(for: .microseconds(200))
                                spins += 1
                            }
                        }
                        let sentAt = UInt64(origin.duration(to: clock.now) / .nanoseconds(1))
                        try await publisher.send(binary: FanoutMessage.encode(seq: seq, sentAt: sentAt, size: payloadSize))
                        seq += 1
                    }
                    state.published.store(Int(seq), ordering: .relaxed)
                }.value
                // Let the last messages arrive (bounded), then close everything.
                for _ in 0..<200 where state.delivered.load(ordering: .relaxed) < state.published.load(ordering: .relaxed) * subscriberCount {
                    try await publisherLoop.sleep(for: .milliseconds(10))
                }
                for socket in sockets { _ = await socket.close() }
                _ = await publisher.close()
                var merged = SubscriberResult()
                for try await result in tasks { if let result { merged.merge(result) } }
                return merged
            }
        }
        for connection in stalledConnections { await connection.close() }
        await group.shutdown()
        let published = state.published.load(ordering: .relaxed)
        if report.json {
            try report.printJSON(summary(results, published: published))
        } else {
            Console.out(resultLine(results, published: published))
        }
        try distributionFile?.write(results.histogram) // after the summary: a failed write loses no figures
    }

    /// The `RESULT key=value …` line (the Benchmarks scripts parse it; keep its fields).
    func resultLine(_ results: SubscriberResult, published: Int) -> String {
        let h = results.histogram
        func us(_ p: Double) -> String { BenchCommand.microseconds(h.valueAtPercentile(p)) }
        let perSecond = Int((Double(results.measuredDeliveries) / duration).rounded())
        var fields = ["RESULT", "url=\(url)", "subscribers=\(subscribers)", "stalled=\(stalled)", "payload=\(payload)"]
        fields += ["mode=\(rate > 0 ? "rate=\(rate)" : "window=\(window)")", "seconds=\(duration)"]
        fields += ["published=\(published)", "deliveries=\(results.deliveries)"]
        fields += ["deliveries_per_sec=\(perSecond)", "p50_us=\(us(50))", "p99_us=\(us(99))", "p999_us=\(us(99.9))"]
        fields += ["out_of_order=\(results.outOfOrder)", "errors=\(results.errors)"]
        return fields.joined(separator: " ")
    }

    /// The `--json` summary: the RESULT line's fields as numbers, the configuration, and the
    /// latency percentiles.
    func summary(_ results: SubscriberResult, published: Int) -> FanoutSummary {
        FanoutSummary(url: url, subscribers: subscribers, stalled: stalled, payload: payload,
                      mode: rate > 0 ? "rate=\(rate)" : "window=\(window)", rate: rate, window: window, seconds: duration,
                      warmup: warmup, loops: loops, published: published, deliveries: results.deliveries,
                      deliveriesPerSec: Int((Double(results.measuredDeliveries) / duration).rounded()),
                      outOfOrder: results.outOfOrder, errors: results.errors, latencySamples: results.histogram.totalCount,
                      latency: LatencyPercentiles(results.histogram))
    }

    /// Reads one subscriber's deliveries until the connection closes.
    static func subscribe(_ socket: WebSocket, state: FanoutState, clock: ContinuousClock, origin: ContinuousClock.Instant,
                          from: Duration, until: Duration) async throws -> SubscriberResult? {
        var result = SubscriberResult()
        var expected: UInt64 = 0
        do {
            for try await message in socket.messages {
                guard case .binary(let bytes) = message, let (seq, sentAt) = FanoutMessage.decode(bytes) else {
                    result.errors += 1
                    state.errors.add(1, ordering: .relaxed)
                    continue
                }
                let now = origin.duration(to: clock.now)
                if seq != expected { result.outOfOrder += 1 }
                expected = seq + 1
                result.deliveries += 1
                state.delivered.wrappingAdd(1, ordering: .relaxed)
                let sent = Duration.nanoseconds(Int64(sentAt))
                if sent >= from && now <= until {
                    result.measuredDeliveries += 1
                    _ = result.histogram.record(UInt64(max(0, (now - sent) / .nanoseconds(1))))
                }
            }
        } catch {
            // Closed at the end of the run.
        }
        return result
    }

    /// A raw client that completes the handshake and never reads again.
    static func stalledSubscriber(_ target: WebSocketURL, on loop: EventLoop) async throws -> TCPConnection {
        var tcp = TCPConfiguration()
        tcp.readHighWatermark = 1024
        tcp.readLowWatermark = 512
        let connection = try await TCPConnection.connect(host: target.host, port: target.port, on: loop, configuration: tcp)
        let request = "GET \(target.resource) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try await connection.write(Array(request.utf8))
        _ = try await connection.read() // the 101; nothing is read after it
        return connection
    }
}

/// Shared counters of a fan-out run.
final class FanoutState: Sendable {
    let delivered = Atomic<Int>(0)
    let published = Atomic<Int>(.max / 2)
    /// Malformed deliveries so far (for the progress lines).
    let errors = Atomic<Int>(0)
    init(subscribers: Int) {}
}

/// `eddy fanout --json`: one object, keys sorted; latencies in microseconds.
struct FanoutSummary: Codable {
    let url: String
    let subscribers: Int
    let stalled: Int
    let payload: Int
    /// "rate=R" or "window=W", as on the RESULT line.
    let mode: String
    /// Messages per second; 0: windowed.
    let rate: Int
    let window: Int
    /// Measured seconds.
    let seconds: Double
    let warmup: Double
    let loops: Int
    let published: Int
    /// Deliveries to reading subscribers, warm-up included.
    let deliveries: Int
    /// Measured deliveries per measured second.
    let deliveriesPerSec: Int
    let outOfOrder: Int
    let errors: Int
    /// Latencies in the histogram (the measured deliveries).
    let latencySamples: UInt64
    let latency: LatencyPercentiles

    enum CodingKeys: String, CodingKey {
        case url, subscribers, stalled, payload, mode, rate, window, seconds, warmup, loops, published, deliveries
        case deliveriesPerSec = "deliveries_per_sec", outOfOrder = "out_of_order", errors
        case latencySamples = "latency_samples", latency = "latency_us"
    }
}

/// What one subscriber saw.
struct SubscriberResult: Sendable {
    var deliveries = 0
    var measuredDeliveries = 0
    var outOfOrder = 0
    var errors = 0
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func merge(_ other: SubscriberResult) {
        deliveries += other.deliveries
        measuredDeliveries += other.measuredDeliveries
        outOfOrder += other.outOfOrder
        errors += other.errors
        histogram.add(other.histogram)
    }
}

/// The fan-out message: sequence number and send time (ns since the run's origin),
/// big-endian, then filler.
enum FanoutMessage {
    static func encode(seq: UInt64, sentAt: UInt64, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x2A, count: size)
        withUnsafeBytes(of: seq.bigEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
        withUnsafeBytes(of: sentAt.bigEndian) { for i in 0..<8 { bytes[8 + i] = $0[i] } }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> (UInt64, UInt64)? {
        guard bytes.count >= 16 else { return nil }
        let seq = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let sentAt = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (seq, sentAt)
    }
}
