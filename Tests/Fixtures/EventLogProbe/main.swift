// eddy-eventlog-probe: a child process for the event-log crash test.
//
// Usage: eddy-eventlog-probe <database-path>
// 1. Runs a small DAG to completion and prints `EPOCH <epoch>` and `FINISHED <run-id> <last-seq>`.
// 2. Starts a long run ("live-run": a chain of slow tasks plus a human gate nobody answers),
//    subscribes to it and prints `ACK <seq>` for every event it receives. Subscribers only get
//    committed events, so every printed ACK names an event that is in the database.
// 3. Never exits on its own: the test kills it with SIGKILL mid-run.
import EddyDAG
import Foundation

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: eddy-eventlog-probe <database-path>\n".utf8))
    exit(2)
}

do {
    let engine = try DAGEngine(configuration: .init(eventLog: .init(path: arguments[1], synchronous: .normal)))
    say("EPOCH \(engine.epoch)")

    var small = DAGBuilder()
    small.task("a") { _ in "a-out" }
    small.task("b", after: ["a"]) { ctx in await ctx.reportCost(tokens: 10, cost: 0.25); return "b-out" }
    small.task("c", after: ["a"]) { _ in "c-out" }
    small.task("d", after: ["b", "c"]) { _ in "d-out" }
    let finishedID = try await engine.start(try small.build(), runID: "finished-run")
    _ = await engine.waitForCompletion(runID: finishedID)
    let finishedSeq = try engine.state(runID: finishedID).seq
    say("FINISHED \(finishedID) \(finishedSeq)")

    var long = DAGBuilder(maxConcurrency: 4)
    long.gate("hold", presentation: ["title": "never answered"])
    long.task("after-hold", after: ["hold"]) { _ in "unreachable" }
    var previous: [NodeID] = []
    for stepNumber in 0..<5_000 {
        let id = "step-\(stepNumber)"
        long.task(id, after: previous) { ctx in
            try await Task.sleep(for: .milliseconds(1))
            await ctx.reportCost(tokens: 1, cost: 0.001)
            return .int(Int64(stepNumber))
        }
        previous = [id]
    }
    let liveID = try await engine.start(try long.build(), runID: "live-run")
    for await envelope in try engine.subscribe(runID: liveID, since: 0, epoch: engine.epoch) {
        say("ACK \(envelope.seq)")
    }
    say("ENDED")
} catch {
    FileHandle.standardError.write(Data("probe failed: \(error)\n".utf8))
    exit(1)
}
