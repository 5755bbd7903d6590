import ArgumentParser
import EddyDAG
import EddyDAGServer
import EddyHTTP
import EddyLoop
import EddyNet
import EddyTLS
import EddyWebSocket
import Foundation
import Glibc
import Histogram
import EddyShared

/// `eddy dag-load`: an end-to-end load generator for the DAG stream server. N dashboards
/// follow the newest live run of a server (typically `eddy serve --dag` with a `ticker`
/// node behind a gate); once all are connected, the generator approves the gate, and every
/// dashboard measures the delivery latency of the ticker's events (their `t_ns` stamp, taken
/// in the engine just before the event is logged, against the wall clock at receipt). It also
/// checks the stream: `seq` continuity, and counts catch-up snapshots (a dashboard fell behind).
/// The operator token comes from `EDDY_OPERATOR_TOKEN` and goes in an `Authorization` header,
/// never in a URL; a `wss://` URL measures the stream over TLS.
struct DAGLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dag-load",
        abstract: "Measure a DAG stream server end to end: N dashboards follow one run."
    )

    @Argument(help: "Server base URL, e.g. ws://127.0.0.1:8080 (wss:// for TLS)") var url: String
    @Option(help: "Operator token (approves the gate; every dashboard uses it). Avoid: every local user can read a command line; set $EDDY_OPERATOR_TOKEN instead.")
    var token: String?
    @OptionGroup var tls: ClientTLSOptions
    @Option(help: "Dashboards that follow the run.") var dashboards = 1000
    @Option(help: "Gate to approve once every dashboard is connected.") var gate = "start"
    @Option(help: "Give up after this many seconds.") var timeout = 300.0
    @Option(help: "Event loops (default: one per core).") var loops = EventLoopGroup.coreCount
    @Flag(help: "Offer permessage-deflate, as browsers do (the server then sends compressed frames).") var deflate = false

    func validate() throws {
        guard dashboards > 0, timeout > 0, loops > 0 else { throw ValidationError("need dashboards > 0, timeout > 0, loops > 0") }
    }

    func run() async throws {
        if token != nil { Console.error(StreamTokens.flagWarning("--token", instead: StreamTokens.operatorVariable)) }
        guard let token = token ?? ProcessInfo.processInfo.environment[StreamTokens.operatorVariable], !token.isEmpty else {
            throw ValidationError("an operator token is needed: set EDDY_OPERATOR_TOKEN (or give --token)")
        }
        // It goes into a header line: visible ASCII only (no CR or LF to end the line).
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValidationError("the operator token must be visible ASCII characters")
        }
        let target = try WebSocketURL(url)
        let tlsContext = try tls.clientContext()
        let group = try EventLoopGroup(loopCount: loops)
        let measured: Measured
        do {
            measured = try await measure(target, token: token, tls: tlsContext, group: group)
        } catch {
            await group.shutdown()
            throw error
        }
        await group.shutdown()
        let (results, h) = (measured.results, measured.latencies)
        func ms(_ ns: UInt64) -> String { BenchCommand.microseconds(ns / 1000) }
        let span = Double(max(1, results.lastReceipt - results.firstReceipt)) / 1e9
        let perSecond = Int((Double(results.tickerEvents) / span).rounded())
        var fields = ["RESULT", "run=\(measured.runID)", "dashboards=\(dashboards)", "finished=\(results.finished)"]
        fields += ["ticker_events=\(results.tickerEvents)", "per_dashboard_min=\(results.minPerDashboard)", "per_dashboard_max=\(results.maxPerDashboard)"]
        fields += ["deliveries_per_sec=\(perSecond)", "p50_ms=\(ms(h.valueAtPercentile(50)))", "p99_ms=\(ms(h.valueAtPercentile(99)))"]
        fields += ["p999_ms=\(ms(h.valueAtPercentile(99.9)))", "max_ms=\(ms(h.max))", "catch_ups=\(results.catchUps)", "gaps=\(results.gaps)"]
        Console.out(fields.joined(separator: " "))
    }

    /// What one load measured.
    struct Measured {
        let runID: String
        let results: DashboardResult
        let latencies: Histogram<UInt64>
    }

    /// Finds the run, connects the dashboards, approves the gate and follows the run to its
    /// end (or the timeout) on `group`, which the caller shuts down whatever happens.
    private func measure(_ target: WebSocketURL, token: String, tls tlsContext: TLSContext?,
                         group: EventLoopGroup) async throws -> Measured {
        guard let runID = try await Self.newestLiveRun(target, token: token, tls: tlsContext, on: group.loops[0]) else {
            throw DAGLoadError(description: "no live run at \(url)/api/dags")
        }
        let stream = "\(target.requiresTLS ? "wss" : "ws")://\(target.hostHeader)/api/dags/\(runID)/stream"
        var configuration = WebSocketClientConfiguration()
        configuration.connection.keepAlive = .disabled
        configuration.deflate.isEnabled = deflate
        configuration.headers.add(name: "Authorization", value: "Bearer \(token)")
        configuration.tls = tlsContext
        let sockets = try await connectClients(dashboards, to: stream, configuration: configuration, group: group)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        // One latency histogram per loop: dashboards on a loop record into it without contention.
        let recorders = Dictionary(uniqueKeysWithValues: group.loops.map { (ObjectIdentifier($0), LatencyRecorder()) })
        let results = try await withThrowingTaskGroup(of: DashboardResult.self) { tasks in
            for socket in sockets {
                guard let recorder = recorders[ObjectIdentifier(socket.eventLoop)] else { continue } // every socket is on a group loop
                tasks.addTask(executorPreference: socket.eventLoop) { await Self.follow(socket, latencies: recorder) }
            }
            // The watchdog first: whatever fails below, the dashboards end by the deadline.
            let watchdog = Task {
                try? await Task.sleep(until: deadline) // safe to drop: cancelled means the load ended first
                for socket in sockets { _ = await socket.close(code: .goingAway, reason: "dag-load timeout") }
            }
            defer { watchdog.cancel() }
            let approve = #"{"v":1,"type":"human_decision","command_id":"dag-load-go","node_id":"\#(gate)","decision":"approve"}"#
            if let first = sockets.first {
                try await Task(executorPreference: first.eventLoop) { try await first.send(text: approve) }.value
            }
            var merged = DashboardResult()
            for try await result in tasks { merged.merge(result) }
            return merged
        }
        var latencies = LatencyRecorder.empty
        for recorder in recorders.values { recorder.add(into: &latencies) }
        return Measured(runID: runID, results: results, latencies: latencies)
    }

    /// Follows one stream until `execution_complete` (or a terminal catch-up snapshot).
    static func follow(_ socket: WebSocket, latencies: LatencyRecorder) async -> DashboardResult {
        var result = DashboardResult()
        var seq: Int64 = -1
        var events = 0
        do {
            loop: for try await message in socket.messages {
                guard case .text(let text) = message else { continue }
                let now = WallClock.nanoseconds()
                let fields = StreamLine(text)
                switch fields.kind {
                case .snapshot:
                    if seq >= 0 { result.catchUps += 1 }
                    seq = fields.seq
                    if fields.terminalSnapshot { break loop }
                case .session:
                    continue
                case .event, .complete:
                    if seq >= 0 && fields.seq != seq + 1 { result.gaps += 1 }
                    seq = fields.seq
                    if let sent = fields.tickNanoseconds {
                        events += 1
                        latencies.record(nanoseconds: now - sent)
                        if result.firstReceipt == 0 { result.firstReceipt = now }
                        result.lastReceipt = now
                    }
                    if fields.kind == .complete { break loop }
                }
            }
            result.finished = 1
        } catch {
            // Closed by the server or the watchdog: reported through `finished`.
        }
        _ = await socket.close()
        result.tickerEvents = events
        result.minPerDashboard = events
        result.maxPerDashboard = events
        return result
    }

    /// The newest run that has not finished, from `GET /api/dags` (over TLS for `wss://`),
    /// within `listingTimeout`.
    static func newestLiveRun(_ target: WebSocketURL, token: String, tls: TLSContext?, on loop: EventLoop) async throws -> String? {
        let request = Array(("GET /api/dags HTTP/1.1\r\nHost: \(target.hostHeader)\r\nAuthorization: Bearer \(token)\r\n"
            + "Connection: close\r\n\r\n").utf8)
        let bytes: [UInt8]
        do {
            bytes = try await loop.withTimeout(listingTimeout) {
                if target.requiresTLS {
                    let stream = try await TLSStream.connect(host: target.host, port: target.port,
                                                             context: tls ?? TLSContext(.client()), serverName: target.bareHost, on: loop)
                    return try await exchange(request, over: stream)
                }
                return try await exchange(request, over: TCPConnection.connect(host: target.host, port: target.port, on: loop))
            }
        } catch is TimeoutError {
            throw DAGLoadError(description: "GET /api/dags on \(target.hostHeader): no whole answer within \(listingTimeout)")
        }
        guard bytes.count <= listingLimit else {
            throw DAGLoadError(description: "GET /api/dags on \(target.hostHeader): the answer is over \(listingLimit >> 20) MiB")
        }
        var parser = HTTPResponseHeadParser()
        guard case .head(let head, let consumed) = parser.parse(bytes) else {
            throw DAGLoadError(description: "GET /api/dags on \(target.hostHeader): the answer is not an HTTP response")
        }
        guard head.statusCode == 200 else {
            // Said as the server said it (a wrong token is the usual reason), in printable
            // ASCII only: it is the server's text, shown on a terminal.
            let reason = String(decoding: head.reasonPhrase.utf8.prefix(100).map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }, as: UTF8.self)
            throw DAGLoadError(description: "GET /api/dags answered \"\(head.version) \(head.statusCode) \(reason)\""
                + (head.statusCode == 401 ? ": is the operator token right?" : ""))
        }
        // Safe to drop: a body that is not the listing is reported as such by the caller (nil).
        guard let runs = try? JSONParser.parse(Array(bytes[consumed...]))["runs"]?.arrayValue else { return nil }
        return runs.last { $0["finished"] == .bool(false) }?["dag_id"]?.stringValue
    }

    /// How long finding the run may take: connecting, TLS, the request and the whole response.
    static let listingTimeout: Duration = .seconds(10)
    /// The most of a listing read (a server that never stops sending is cut off here).
    static let listingLimit = 16 << 20

    /// Writes `request`, reads until the server closes (or `listingLimit`), closes.
    private static func exchange(_ request: [UInt8], over stream: some ByteStream) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            try await stream.write(request)
            for try await chunk in stream.inbound {
                bytes += chunk
                if bytes.count > listingLimit { break }
            }
        } catch {
            await stream.close()
            throw error
        }
        await stream.close()
        return bytes
    }
}

/// Why a load could not run (not a usage error: the command line was fine).
struct DAGLoadError: Error, CustomStringConvertible {
    let description: String
}

/// The few fields of a stream message the load generator needs, found with `memmem` over the
/// UTF-8 bytes, without a JSON parse: the generator must stay cheaper than the server it
/// measures.
struct StreamLine {
    enum Kind { case snapshot, session, complete, event }
    var kind = Kind.event
    var seq: Int64 = -1
    var tickNanoseconds: Int64?
    var terminalSnapshot = false

    init(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            let raw = UnsafeRawBufferPointer(start: base, count: bytes.count)
            if Self.find(#""type":"snapshot""#, in: raw) != nil {
                kind = .snapshot
                let terminal: [StaticString] = [#""status":"completed","revision""#, #""status":"failed","revision""#,
                                                 #""status":"cancelled","revision""#, #""status":"interrupted","revision""#]
                terminalSnapshot = terminal.contains { Self.find($0, in: raw) != nil }
            } else if Self.find(#""type":"heartbeat""#, in: raw) != nil || Self.find(#""type":"command_result""#, in: raw) != nil {
                kind = .session
            } else if Self.find(#""type":"execution_complete""#, in: raw) != nil {
                kind = .complete
            }
            seq = Self.integer(after: #""seq":"#, in: raw) ?? -1
            tickNanoseconds = Self.integer(after: #""t_ns":"#, in: raw)
        }
    }

    /// The offset just past the first occurrence of `key`.
    static func find(_ key: StaticString, in raw: UnsafeRawBufferPointer) -> Int? {
        let count = key.utf8CodeUnitCount
        guard let base = raw.baseAddress, count > 0, raw.count >= count else { return nil }
        let first = key.utf8Start.pointee
        var i = 0
        while i <= raw.count - count {
            if raw[i] == first && memcmp(base + i, key.utf8Start, count) == 0 { return i + count }
            i += 1
        }
        return nil
    }

    static func integer(after key: StaticString, in raw: UnsafeRawBufferPointer) -> Int64? {
        guard var i = find(key, in: raw) else { return nil }
        var value: Int64 = 0
        var digits = 0
        while i < raw.count, raw[i] >= 48, raw[i] <= 57 {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(Int64(raw[i] - 48))
            guard !overflow, !overflow2 else { return nil }
            value = next
            i += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// What the dashboards saw, merged.
struct DashboardResult: Sendable {
    var finished = 0
    var tickerEvents = 0
    var minPerDashboard = Int.max
    var maxPerDashboard = 0
    var catchUps = 0
    var gaps = 0
    var firstReceipt: Int64 = 0
    var lastReceipt: Int64 = 0
    mutating func merge(_ other: DashboardResult) {
        finished += other.finished
        tickerEvents += other.tickerEvents
        minPerDashboard = min(minPerDashboard, other.minPerDashboard)
        maxPerDashboard = max(maxPerDashboard, other.maxPerDashboard)
        catchUps += other.catchUps
        gaps += other.gaps
        if other.firstReceipt != 0 && (firstReceipt == 0 || other.firstReceipt < firstReceipt) { firstReceipt = other.firstReceipt }
        lastReceipt = max(lastReceipt, other.lastReceipt)
    }
}

/// Delivery latencies of the dashboards on one loop, in nanoseconds.
final class LatencyRecorder: Sendable {
    static var empty: Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
    }
    private let histogram = Mutex(LatencyRecorder.empty)

    func record(nanoseconds: Int64) {
        histogram.withLock { _ = $0.record(UInt64(max(1_000, nanoseconds))) }
    }

    func add(into total: inout Histogram<UInt64>) {
        let mine = histogram.withLock { $0 }
        total.add(mine)
    }
}
