// DAGBenchmark: events per second through the engine and the SQLite event log.
//
// Usage: DAGBenchmark [--nodes N] [--shape fanout|layered|chain] [--sync off|normal|full]
//                     [--concurrency C] [--runs R] [--subscribe] [--build-only]
// Each run builds an N-node DAG of no-op tasks, starts it, and waits until its
// execution_complete is committed to SQLite and published (so every event is durable per
// --sync). Reports events, wall time, events/s and group commits per run.
import EddyDAG
import Foundation

struct Options {
    var nodes = 10_000
    var shape = "layered"
    var sync = EventLogConfiguration.Synchronous.normal
    var concurrency = 64
    var runs = 3
    var subscribe = false
    /// Only build the definitions (to subtract their allocations from a full run's).
    var buildOnly = false
}

var options = Options()
var args = CommandLine.arguments.dropFirst().makeIterator()
while let arg = args.next() {
    switch arg {
    case "--nodes": options.nodes = Int(args.next() ?? "") ?? options.nodes
    case "--shape": options.shape = args.next() ?? options.shape
    case "--sync": options.sync = EventLogConfiguration.Synchronous(rawValue: (args.next() ?? "").uppercased()) ?? .normal
    case "--concurrency": options.concurrency = Int(args.next() ?? "") ?? options.concurrency
    case "--runs": options.runs = Int(args.next() ?? "") ?? options.runs
    case "--subscribe": options.subscribe = true
    case "--build-only": options.buildOnly = true
    default:
        FileHandle.standardError.write(Data("unknown argument \(arg)\n".utf8))
        exit(2)
    }
}

func definition(_ o: Options) throws -> DAGDefinition {
    var b = DAGBuilder(maxConcurrency: o.concurrency)
    let noop: TaskBody = { _ in .null }
    switch o.shape {
    case "chain":
        for i in 0..<o.nodes { b.task("n\(i)", after: i == 0 ? [] : ["n\(i - 1)"], noop) }
    case "fanout":
        b.task("root", noop)
        for i in 0..<(o.nodes - 2) { b.task("n\(i)", after: ["root"], noop) }
        b.task("sink", after: (0..<(o.nodes - 2)).map { "n\($0)" }, noop)
    default:  // layered: 100-wide layers, each node depends on the same column of the previous layer
        let width = 100
        for i in 0..<o.nodes {
            b.task("n\(i)", after: i < width ? [] : ["n\(i - width)"], noop)
        }
    }
    return try b.build()
}

if options.buildOnly {
    var total = 0
    for _ in 0..<options.runs { total += try definition(options).nodes.count }
    print("built \(options.runs) definitions, \(total) nodes")
    exit(0)
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let engine = try DAGEngine(
    configuration: .init(eventLog: .init(path: directory.appendingPathComponent("events.sqlite").path, synchronous: options.sync)))
print("nodes=\(options.nodes) shape=\(options.shape) synchronous=\(options.sync.rawValue) concurrency=\(options.concurrency)")
/// User + system CPU seconds of this process so far (all threads).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

var rates: [Double] = []
for r in 0..<options.runs {
    let def = try definition(options)
    let commitsBefore = engine.log.committedTransactions
    let clock = ContinuousClock()
    let cpuStart = cpuSeconds()
    let start = clock.now
    let runID = try await engine.start(def, runID: "bench-\(r)")
    var received = 0
    // Subscribe at once (events committed before this point are replayed from SQLite, the rest
    // arrive live), then consume on another task.
    let subscription = options.subscribe ? try engine.subscribe(runID: runID, since: 0, epoch: engine.epoch) : nil
    let consumer: Task<Int, Never>? = subscription.map { sub in
        Task {
            var n = 0
            for await _ in sub { n += 1 }
            return n
        }
    }
    let status = await engine.waitForCompletion(runID: runID)
    let elapsed = clock.now - start
    let cpu = cpuSeconds() - cpuStart
    if let consumer { received = await consumer.value }
    let events = try engine.state(runID: runID).seq
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(events) / seconds
    rates.append(rate)
    let commits = engine.log.committedTransactions - commitsBefore
    print(
        "run \(r): status=\(status?.rawValue ?? "nil") events=\(events) seconds=\(String(format: "%.3f", seconds)) "
            + "events/s=\(Int(rate)) nodes/s=\(Int(Double(options.nodes) / seconds)) group_commits=\(commits) "
            + "cpu_seconds=\(String(format: "%.3f", cpu)) events_per_cpu_second=\(Int(Double(events) / cpu))"
            + (options.subscribe ? " subscriber_received=\(received)" : ""))
}
let sorted = rates.sorted()
print("median events/s=\(Int(sorted[sorted.count / 2]))")
await engine.shutdown()
