public import EddyDAG
import Glibc

/// The task handlers that `eddy serve --dag FILE.json` offers to definitions: simulated work
/// (timings, token costs, failures, run-time graph growth) for demos, load tests and trying
/// dashboards out. Each reads its node's `"params"`; bad params refuse the definition at load.
///
/// | handler | params | does |
/// |---|---|---|
/// | `sleep` | `ms`, `output` | waits `ms` (default 100), returns `output` (default null) |
/// | `model_call` | `ms`, `steps`, `tokens`, `cost`, `output` | `steps` (default 1) progress updates over `ms` (default 500), reporting `tokens`/`cost` spread over them; returns `output` |
/// | `collect` | — | returns its inputs as an object, node id → output |
/// | `fail` | `message`, `until_attempt`, `output` | fails with `message`; with `until_attempt` N, succeeds from attempt N on (pair with `retry`) |
/// | `expand` | `nodes`, `ms` | after `ms`, adds `nodes` (same format as the file's nodes, no `expand`) by a mutation |
/// | `ticker` | `rate`, `seconds` | reports progress `{"i", "t_ns"}` (`t_ns`: wall clock, ns) `rate` times a second for `seconds`; for load tests (`eddy dag-load`) |
public enum BuiltinHandlers {
    /// Why a handler refused its params (or the message of a `fail` node).
    public struct ParamsError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Every built-in handler, by name; `DAGDefinition(json:handlers:)` takes it.
    public static var registry: HandlerRegistry {
        var base = HandlerRegistry()
        base.register("sleep", configured: sleep)
        base.register("model_call", configured: modelCall)
        base.register("collect") { context in
            .object(context.inputs.keys.sorted().map { JSONValue.Member($0, context.inputs[$0] ?? .null) })
        }
        base.register("fail", configured: fail)
        base.register("ticker", configured: ticker)
        let inner = base
        var all = base
        all.register("expand") { params in try expand(params, handlers: inner) }
        return all
    }

    static func sleep(_ params: JSONValue) throws -> TaskBody {
        let ms = try milliseconds(params, default: 100)
        let output = params["output"] ?? .null
        return { context in
            try await Task.sleep(for: .milliseconds(ms))
            try context.checkCancellation()
            return output
        }
    }

    static func modelCall(_ params: JSONValue) throws -> TaskBody {
        let ms = try milliseconds(params, default: 500)
        let steps = try integer(params, "steps", default: 1, range: 1...1_000)
        let tokens = try integer(params, "tokens", default: 0, range: 0...Int64.max)
        guard params["cost"] == nil || params["cost"]?.doubleValue != nil else { throw ParamsError(description: "\"cost\" must be a number") }
        let cost = params["cost"]?.doubleValue ?? 0
        guard cost >= 0 else { throw ParamsError(description: "\"cost\" must not be negative") }
        let output = params["output"]
        return { context in
            for step in 1...steps {
                try await Task.sleep(for: .milliseconds(ms / steps))
                try context.checkCancellation()
                await context.reportCost(tokens: tokens / steps, cost: cost / Double(steps))
                if steps > 1 { await context.progress(["step": .int(step), "of": .int(steps)]) }
            }
            return output ?? .string("\(context.nodeID) done")
        }
    }

    static func fail(_ params: JSONValue) throws -> TaskBody {
        let message = params["message"]?.stringValue ?? "simulated failure"
        let until = try params["until_attempt"].map { _ in try integer(params, "until_attempt", default: 1, range: 1...100) }
        let output = params["output"] ?? .null
        return { context in
            if let until, context.attempt >= until { return output }
            throw ParamsError(description: message)
        }
    }

    static func expand(_ params: JSONValue, handlers: HandlerRegistry) throws -> TaskBody {
        guard let values = params["nodes"]?.arrayValue, !values.isEmpty else {
            throw ParamsError(description: "\"nodes\" must be a non-empty array of nodes")
        }
        let nodes = try values.map { try DAGDefinition.node(json: $0, handlers: handlers) }
        let ms = try milliseconds(params, default: 0)
        return { context in
            if ms > 0 { try await Task.sleep(for: .milliseconds(ms)) }
            let revision = try await context.mutate(DAGMutation(addNodes: nodes))
            return ["added": .int(Int64(nodes.count)), "revision": .int(Int64(revision))]
        }
    }

    static func ticker(_ params: JSONValue) throws -> TaskBody {
        let rate = try integer(params, "rate", default: 100, range: 1...1_000_000)
        let seconds = try integer(params, "seconds", default: 10, range: 1...86_400)
        return { context in
            let clock = ContinuousClock()
            let start = clock.now
            let total = rate * seconds
            var worstLag = Duration.zero
            for i in 0..<total {
                // Fixed schedule: event i is due at start + i / rate; a late tick is not skipped.
                let due = start + .nanoseconds(i * 1_000_000_000 / rate)
                if due > clock.now { try await clock.sleep(until: due) }
                worstLag = max(worstLag, clock.now - due)
                try context.checkCancellation()
                await context.progress(["i": .int(i), "t_ns": .int(WallClock.nanoseconds())])
            }
            return ["emitted": .int(total), "worst_lag_ms": .int(Int64(worstLag / .milliseconds(1)))]
        }
    }

    private static func milliseconds(_ params: JSONValue, default value: Int64) throws -> Int64 {
        try integer(params, "ms", default: value, range: 0...3_600_000)
    }

    private static func integer(_ params: JSONValue, _ key: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let raw = params[key], raw != .null else { return value }
        guard let int = raw.intValue, range.contains(int) else {
            throw ParamsError(description: "\"\(key)\" must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return int
    }
}

/// Wall-clock time shared by processes on one machine (for cross-process latency).
public enum WallClock {
    /// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
    public static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
