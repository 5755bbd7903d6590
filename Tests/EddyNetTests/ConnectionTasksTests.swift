import EddyLoop
@testable import EddyNet
import Synchronization
import Testing

/// `ConnectionTasks`, the table of tasks a listener serves its connections with: what a task
/// group gave (cancel all, wait for all), at a constant cost per task.
@Suite("Listener: the table of connection tasks", .timeLimit(.minutes(2)))
struct ConnectionTasksTests {
    @Test func waitingReturnsOnlyOnceEveryTaskHasFinished() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let tasks = ConnectionTasks()
        let finished = Atomic<Int>(0)
        for index in 0..<1_000 {
            tasks.start(on: group.loops[index % 2]) {
                if index % 10 == 0 { try? await Task.sleep(for: .milliseconds(20)) }
                finished.add(1, ordering: .relaxed)
            }
        }
        await tasks.waitUntilEmpty()
        #expect(finished.load(ordering: .relaxed) == 1_000)
        #expect(tasks.count == 0)
        await tasks.waitUntilEmpty() // an empty table: at once
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }

    @Test func cancellingAllCancelsTheRunningTasksAndEveryLaterOne() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let tasks = ConnectionTasks()
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        let body: @Sendable () async -> Void = {
            started.add(1, ordering: .relaxed)
            // Sleeps until cancelled (the test's time limit is far shorter).
            try? await Task.sleep(for: .seconds(3_600))
            if Task.isCancelled { cancelled.add(1, ordering: .relaxed) }
        }
        for _ in 0..<8 { tasks.start(on: group.loops[0], body) }
        for _ in 0..<200 where started.load(ordering: .relaxed) < 8 { try await Task.sleep(for: .milliseconds(10)) }
        tasks.cancelAll()
        tasks.start(on: group.loops[0], body) // started after: cancelled at once
        await tasks.waitUntilEmpty()
        #expect(started.load(ordering: .relaxed) == 9)
        #expect(cancelled.load(ordering: .relaxed) == 9)
        #expect(await group.shutdown().allSatisfy { $0.isClean })
    }
}
