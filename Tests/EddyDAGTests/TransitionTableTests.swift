@testable import EddyDAG
import Testing

@Suite("State transition tables")
struct TransitionTableTests {
    /// The node table exactly as documented in docs/dag-engine.md.
    static let expectedNode: [NodeStatus: Set<NodeStatus>] = [
        .pending: [.ready, .skipped, .upstreamFailed, .cancelled, .removed],
        .ready: [.running, .cancelled],
        .running: [.completed, .failed, .retrying, .waitingHuman, .cancelled],
        .retrying: [.running, .cancelled],
        .waitingHuman: [.completed, .rejected, .failed, .cancelled],
    ]

    @Test("every node transition pair is allowed exactly when the table says so")
    func nodeTableIsExact() {
        for from in NodeStatus.allCases {
            for to in NodeStatus.allCases {
                let expected = Self.expectedNode[from]?.contains(to) ?? false
                #expect(NodeTransitionTable.allows(from, to) == expected, "\(from) -> \(to)")
            }
        }
    }

    @Test func terminalNodeStates() {
        let terminal = Set(NodeStatus.allCases.filter(\.isTerminal))
        #expect(terminal == [.completed, .failed, .skipped, .upstreamFailed, .rejected, .cancelled, .removed])
    }

    @Test("every execution transition pair is allowed exactly when the table says so")
    func executionTableIsExact() {
        let expected: [ExecutionStatus: Set<ExecutionStatus>] = [
            .running: [.paused, .cancelling, .completed, .failed, .budgetExceeded, .interrupted],
            .paused: [.running, .cancelling, .completed, .failed, .budgetExceeded, .interrupted],
            .cancelling: [.cancelled, .interrupted],
            .budgetExceeded: [.interrupted],
        ]
        for from in ExecutionStatus.allCases {
            for to in ExecutionStatus.allCases {
                #expect(ExecutionTransitionTable.allows(from, to) == (expected[from]?.contains(to) ?? false), "\(from) -> \(to)")
            }
        }
    }

    @Test("the state machine refuses and reports an illegal transition")
    func illegalTransitionIsRefused() throws {
        var b = DAGBuilder()
        b.task("a") { _ in .null }
        var machine = RunStateMachine(definition: try b.build())
        machine.start()
        _ = machine.takeActions()
        // "a" is running now; running -> ready is not in the table.
        #expect(machine.nodes["a"]?.status == .running)
        #expect(machine.transition("a", to: .ready) == false)
        #expect(machine.nodes["a"]?.status == .running)
        #expect(machine.illegalTransitions == 1)
        let actions = machine.takeActions()
        guard case .emit(.error(let e))? = actions.first else {
            Issue.record("expected an error event, got \(actions)")
            return
        }
        #expect(e.code == "illegal_transition")
        #expect(e.nodeID == "a")
    }

    @Test("stale task results are ignored by the state machine")
    func staleResultsIgnored() throws {
        var b = DAGBuilder()
        b.task("a", retry: RetryPolicy(maxAttempts: 2)) { _ in .null }
        var machine = RunStateMachine(definition: try b.build())
        machine.start()
        machine.taskFailed("a", attempt: 1, message: "boom")
        #expect(machine.nodes["a"]?.status == .retrying)
        machine.taskSucceeded("a", attempt: 1, output: .null, durationMs: 1)  // late result of attempt 1
        #expect(machine.nodes["a"]?.status == .retrying)
        machine.retryDue("a", attempt: 1)
        #expect(machine.nodes["a"]?.status == .running)
        #expect(machine.nodes["a"]?.attempt == 2)
        machine.taskSucceeded("a", attempt: 2, output: "ok", durationMs: 1)
        #expect(machine.status == .completed)
        #expect(machine.finished)
    }
}
