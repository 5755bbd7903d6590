import EddyDAG
import Foundation
import EddyShared
import Testing

struct DeadlineExceeded: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "operation did not finish within \(seconds) s" }
}

/// Resumes a continuation exactly once, from whichever side finishes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(with: result)
        return true
    }
}

/// Runs `operation`, failing with `DeadlineExceeded` after `seconds` even if the operation
/// does not observe cancellation (so no test can hang).
func withDeadline<T: Sendable>(
    _ seconds: Double = 180, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(c)
        let work = Task {
            do { once.resume(.success(try await operation())) } catch { once.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            if once.resume(.failure(DeadlineExceeded(seconds: seconds))) { work.cancel() }
        }
    }
}

/// A temporary directory holding one test's database, removed on deinit. With the environment
/// variable `EDDY_KEEP_TEST_DATABASES=<dir>` the databases are kept under `<dir>` instead (used to
/// validate every logged event against docs/protocol.schema.json).
final class TempDirectory: @unchecked Sendable {
    let url: URL
    private let keep: Bool
    init() throws {
        let keepDir = ProcessInfo.processInfo.environment["EDDY_KEEP_TEST_DATABASES"]
        keep = keepDir != nil
        let base = keepDir.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        url = base.appendingPathComponent("eddy-dag-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    var databasePath: String { url.appendingPathComponent("events.sqlite").path }
    deinit { if !keep { try? FileManager.default.removeItem(at: url) } }
}

/// An engine on a fresh temporary database (synchronous=OFF to keep the suite fast; the
/// durability tests use NORMAL).
func makeEngine(
    synchronous: EventLogConfiguration.Synchronous = .off, retention: RetentionPolicy = RetentionPolicy()
) throws -> (DAGEngine, TempDirectory) {
    let dir = try TempDirectory()
    let engine = try DAGEngine(
        configuration: .init(eventLog: .init(path: dir.databasePath, synchronous: synchronous, retention: retention)))
    return (engine, dir)
}

/// Starts `definition`, waits for completion, returns the final status and the logged events.
func runToEnd(_ engine: DAGEngine, _ definition: DAGDefinition, runID: String = "run")
    async throws -> (ExecutionStatus?, [EventEnvelope])
{
    let id = try await engine.start(definition, runID: runID)
    let status = try await withDeadline { await engine.waitForCompletion(runID: id) }
    return (status, try engine.events(runID: id))
}

/// Polls the run's durable state until `predicate` holds (bounded by a deadline).
func waitForState(
    _ engine: DAGEngine, _ runID: String, _ predicate: @escaping @Sendable (DAGStateStore) -> Bool
) async throws {
    try await withDeadline {
        while true {
            if let s = try? engine.state(runID: runID), predicate(s) { return }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// The sequence of statuses `node` went through, from `node_state` events (progress excluded).
func statuses(of node: NodeID, in events: [EventEnvelope]) -> [NodeStatus] {
    var result: [NodeStatus] = []
    for e in events {
        if case .nodeState(let s) = e.event, s.nodeID == node, result.last != s.status { result.append(s.status) }
    }
    return result
}

func eventsOfType(_ type: String, in events: [EventEnvelope]) -> [ServerEvent] {
    events.filter { $0.event.typeName == type }.map(\.event)
}

/// Checks the invariants every run's history must satisfy.
func checkHistory(_ events: [EventEnvelope], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(events.map(\.seq) == (0..<events.count).map { Int64($0 + 1) }, sourceLocation: sourceLocation)
    #expect(events.filter { $0.event.typeName == "execution_complete" }.count == 1, sourceLocation: sourceLocation)
    #expect(events.last?.event.typeName == "execution_complete", sourceLocation: sourceLocation)
    #expect(!events.contains { if case .error(let e) = $0.event { e.code == "illegal_transition" } else { false } },
        sourceLocation: sourceLocation)
}

/// A gate a test opens to let a task body finish.
final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A thread-safe counter for attempts and concurrency.
final class Counter: Sendable {
    private let counts = Mutex((value: 0, maximum: 0))

    @discardableResult
    func increment() -> Int {
        counts.withLock { counts in
            counts.value += 1
            counts.maximum = max(counts.maximum, counts.value)
            return counts.value
        }
    }

    func decrement() {
        counts.withLock { $0.value -= 1 }
    }

    var current: Int { counts.withLock { $0.value } }

    var peak: Int { counts.withLock { $0.maximum } }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
