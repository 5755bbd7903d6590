extension EventLoop: SerialExecutor, TaskExecutor {
    /// Queues a job to run on this loop's thread. Never runs it inline.
    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Traps unless called on this loop's thread: used by `assumeIsolated` and by the
    /// runtime's isolation checks.
    public func checkIsolated() {
        if !inEventLoop {
            preconditionFailure("expected to run on event loop \(index), but running elsewhere")
        }
    }

    public func isIsolatingCurrentContext() -> Bool? {
        inEventLoop
    }
}
