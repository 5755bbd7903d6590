/// An event loop plays two executor roles, kept apart on purpose:
///
/// - As a `TaskExecutor` (`Task(executorPreference: loop)`, `withTaskExecutorPreference`)
///   it runs a task's jobs with the *generic* serial executor, like any task executor. A
///   nonisolated async function called from such a task then continues inline on the loop
///   thread: the runtime sees nothing to switch.
/// - As a `SerialExecutor` (an actor's `unownedExecutor`) it is represented by a separate
///   object, `LoopSerialExecutor`, whose jobs run isolated to it.
///
/// With a single object in both roles, every job ran "isolated to the loop", and every call
/// from such a job into a nonisolated async function was a real executor switch: the task
/// was re-enqueued on the loop instead of continuing, twice per awaited call, which split
/// one read's worth of WebSocket echoes over several loop iterations (and `write(2)`s).
extension EventLoop: TaskExecutor {
    /// Queues a job of a task that prefers this loop. Never runs it inline.
    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// This loop as a serial executor, for actors bound to it:
    /// `nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }`.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        serialExecutor.asUnownedSerialExecutor()
    }
}

/// An `EventLoop` in its `SerialExecutor` role (see above). Jobs run on the loop's thread,
/// in order with everything else the loop runs, isolated to this executor.
final class LoopSerialExecutor: SerialExecutor, @unchecked Sendable {
    /// Set once by the loop's initialiser; the loop owns this object.
    unowned(unsafe) var loop: EventLoop! = nil

    func enqueue(_ job: consuming ExecutorJob) {
        loop.submit(.isolatedJob(UnownedJob(job)))
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Traps unless called on the loop's thread: used by `assumeIsolated` and by the
    /// runtime's isolation checks.
    func checkIsolated() {
        if !loop.inEventLoop {
            preconditionFailure("expected to run on event loop \(loop.index), but running elsewhere")
        }
    }

    func isIsolatingCurrentContext() -> Bool? {
        loop.inEventLoop
    }
}
