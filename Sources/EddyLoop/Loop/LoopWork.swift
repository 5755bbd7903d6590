/// One unit of work queued on an event loop: a Swift concurrency job or a plain closure.
enum LoopWork {
    /// A job of a task that prefers this loop (the loop as its `TaskExecutor`): it runs
    /// with the generic serial executor, as on any task executor.
    case job(UnownedJob)
    /// A job isolated to an actor bound to this loop (the loop's `SerialExecutor`).
    case isolatedJob(UnownedJob)
    case closure(@Sendable () -> Void)
}

/// The cross-thread submission queue. Guarded by the loop's mutex.
struct RemoteQueue {
    var items: [LoopWork] = []
    /// Set once by the loop thread when it stops; later submissions run on the loop's
    /// after-life queue instead (see `EventLoop.submit`).
    var terminated = false
}
