import EddyLoop
import EddyShared

/// The tasks that serve a listener's connections (one per handler or hand-over body), kept
/// in a table rather than as children of one task group.
///
/// Why not a task group: Swift's runtime (6.3 included) keeps a group's children in a singly
/// linked list and, when a child finishes, walks the list to unlink it. With one child per
/// open connection, every connection that opens (its handshake task ends) or closes paid a
/// walk over all the others: opening and closing 16,000 idle connections spent three
/// quarters of the server's CPU in `TaskGroup::removeChildTask`, and the cost grew with the
/// square of the count (BENCHMARKS.md, "Opening and closing many connections"). Here a task
/// enters and leaves the table in constant time.
///
/// Guarantees (what the group gave `serveHandingOver`): every task started runs its body
/// once, on the given loop; `cancelAll()` cancels every task in the table and every task
/// started after it; `waitUntilEmpty()` returns once every task started so far has
/// finished. The tasks inherit the starting task's priority and task-local values, as child
/// tasks would; unlike children, they do not follow a later escalation of `serve`'s priority.
final class ConnectionTasks: Sendable {
    private struct State {
        var running: [Int: Task<Void, Never>] = [:]
        var nextID = 0
        var cancelled = false
        var emptyWaiters: [UnsafeContinuation<Void, Never>] = []

        /// Takes a finished task out; returns the waiters to resume if that emptied the table.
        mutating func remove(_ id: Int) -> [UnsafeContinuation<Void, Never>] {
            running[id] = nil
            guard running.isEmpty else { return [] }
            defer { emptyWaiters = [] }
            return emptyWaiters
        }
    }

    private let state = Mutex(State())

    /// Runs `body` in a new task on `loop`, in the table until it returns.
    func start(on loop: EventLoop, _ body: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            // Created under the lock, so the task is in the table before it can finish (its
            // removal waits for the lock). No deadlock: creating a task only enqueues it (a
            // loop never runs submitted work inline, `EventLoop.execute`).
            let task = Task(executorPreference: loop) {
                await body()
                self.finished(id)
            }
            state.running[id] = task
            if state.cancelled { task.cancel() }
        }
    }

    private func finished(_ id: Int) {
        for waiter in state.withLock({ $0.remove(id) }) { waiter.resume() }
    }

    /// Cancels every running task, and every task started from now on.
    func cancelAll() {
        let tasks = state.withLock { state in
            state.cancelled = true
            return Array(state.running.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Returns once no task is running.
    func waitUntilEmpty() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let empty = state.withLock { state in
                if state.running.isEmpty { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if empty { continuation.resume() }
        }
    }

    /// Tasks running now (for tests).
    var count: Int { state.withLock { $0.running.count } }
}
