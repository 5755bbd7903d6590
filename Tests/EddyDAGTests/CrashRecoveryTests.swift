import EddyDAG
import EddyTestSupport
import Foundation
import EddyShared
import Testing

/// Collects a child process's stdout lines from any thread.
final class LineCollector: Sendable {
    private let state = Mutex((partial: Data(), lines: [String]()))

    func append(_ data: Data) {
        state.withLock { state in
            state.partial.append(data)
            while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                state.lines.append(String(decoding: state.partial[state.partial.startIndex..<newline], as: UTF8.self))
                state.partial.removeSubrange(state.partial.startIndex...newline)
            }
        }
    }

    var snapshot: [String] { state.withLock { $0.lines } }
}

@Suite("Event log across a real process crash", .timeLimit(.minutes(3)))
struct CrashRecoveryTests {
    /// The probe (`Tests/Fixtures/EventLogProbe`, an executable target this test target depends
    /// on) is built with the tests, into the products directory that holds the test bundle
    /// (`.build/<config>/eddy-eventlog-probe`).
    static func probeURL() -> URL? {
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for bundle in Bundle.allBundles { candidates.append(bundle.bundleURL.deletingLastPathComponent()) }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        candidates.append(packageRoot.appendingPathComponent(".build/release"))
        for dir in candidates {
            let url = dir.appendingPathComponent("eddy-eventlog-probe")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    @Test("SIGKILL mid-run: every acknowledged event survives, the run is marked interrupted")
    func killedProcess() async throws {
        let probe = try #require(Self.probeURL(), "build the probe first: swift build --build-tests")
        let dir = try TempDirectory()
        let process = ChildProcess()
        process.executableURL = probe
        process.arguments = [dir.databasePath]
        let pipe = ChildPipe()
        process.standardOutput = pipe
        let lines = LineCollector()
        try process.run()
        let reader = OutputReader(pipe.fileHandleForReading) { chunk in lines.append(Data(chunk)) }
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        // Wait until the probe has acknowledged a few hundred durable events of the live run.
        try await withDeadline(30) {
            while lines.snapshot.filter({ $0.hasPrefix("ACK ") }).count < 300 {
                guard process.isRunning else { throw TestFailure("probe exited early: \(lines.snapshot.suffix(3))") }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        // Lines printed before the kill are still in the pipe: read to its end.
        await onOwnThread { reader.waitUntilDone() }
        let output = lines.snapshot
        let acked = output.compactMap { $0.hasPrefix("ACK ") ? Int64($0.dropFirst(4)) : nil }
        let epoch = try #require(output.first { $0.hasPrefix("EPOCH ") }.flatMap { Int64($0.dropFirst(6)) })
        let finishedLine = try #require(output.first { $0.hasPrefix("FINISHED ") }?.split(separator: " "))
        let finishedSeq = try #require(Int64(finishedLine[2]))
        #expect(acked == Array(1...Int64(acked.count)))

        // Reopen in this process.
        let engine = try DAGEngine(configuration: .init(eventLog: .init(path: dir.databasePath, synchronous: .normal)))
        #expect(engine.epoch == epoch)
        #expect(engine.log.recoveredRuns == ["live-run"])
        let events = try engine.events(runID: "live-run")
        let stored = Set(events.map(\.seq))
        #expect(acked.allSatisfy { stored.contains($0) }, "an acknowledged event was lost")
        #expect(events.map(\.seq) == Array(1...Int64(events.count)))
        let tail = events.suffix(from: events.firstIndex { if case .error(let e) = $0.event { e.code == "interrupted" } else { false } } ?? events.endIndex)
        #expect(tail.first?.event.typeName == "error")
        #expect(tail.last?.event.typeName == "execution_complete")
        guard case .executionComplete(let done)? = events.last?.event else { throw TestFailure("no execution_complete") }
        #expect(done.status == .interrupted)
        let snapshot = try engine.snapshot(runID: "live-run")
        guard case .snapshot(let s) = snapshot.event else { throw TestFailure("not a snapshot") }
        #expect(s.status == .interrupted)
        #expect(snapshot.seq == Int64(events.count))
        #expect(s.nodes.allSatisfy { $0.status.isTerminal })
        #expect(s.waitingGates.isEmpty)
        #expect(s.nodes.first { $0.id == "hold" }?.status == .cancelled)

        // The run finished before the crash is fully served.
        let finished = try engine.events(runID: "finished-run")
        #expect(Int64(finished.count) == finishedSeq)
        guard case .snapshot(let fs) = try engine.snapshot(runID: "finished-run").event else { throw TestFailure("not a snapshot") }
        #expect(fs.status == .completed)
        #expect(fs.results?.count == 4)
        let records = try engine.log.runs()
        #expect(records.map(\.status) == [.completed, .interrupted])
        await engine.shutdown()

        // Reopening again recovers nothing more and keeps the epoch.
        let again = try DAGEngine(configuration: .init(eventLog: .init(path: dir.databasePath)))
        #expect(again.log.recoveredRuns.isEmpty)
        #expect(again.epoch == epoch)
        #expect(try again.events(runID: "live-run").count == events.count)
        await again.shutdown()
    }
}
