import EddyLoop
import Glibc
import EddyShared
import Testing

/// An actor whose isolation is an event loop.
actor LoopBoundCounter {
    let loop: EventLoop
    var value = 0
    init(loop: EventLoop) { self.loop = loop }
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    func increment() -> (Int, Bool) {
        value += 1
        return (value, loop.inEventLoop)
    }
}

@Suite("EventLoop as an executor")
struct EventLoopExecutorTests {
    @Test func closuresFromOneThreadRunInOrder() async throws {
        let loop = try EventLoop()
        let seen = Mutex<[Int]>([])
        for i in 0..<10_000 { loop.execute { seen.withLock { $0.append(i) } } }
        try await loop.submit { () }
        #expect(seen.withLock { $0 } == Array(0..<10_000))
        #expect(await loop.shutdown().isClean)
    }

    @Test func submissionFromTheLoopNeverRunsInline() async throws {
        let loop = try EventLoop()
        let order = try await loop.submit { () -> [String] in
            let log = Mutex<[String]>([])
            loop.execute { log.withLock { $0.append("queued") } }
            log.withLock { $0.append("after execute") }
            return log.withLock { $0 }
        }
        #expect(order == ["after execute"])
        #expect(await loop.shutdown().isClean)
    }

    @Test func localSubmissionsKeepFIFOOrder() async throws {
        let loop = try EventLoop()
        let seen = Mutex<[Int]>([])
        try await loop.submit {
            for i in 0..<1_000 { loop.execute { seen.withLock { $0.append(i) } } }
        }
        try await loop.submit { () }
        #expect(seen.withLock { $0 } == Array(0..<1_000))
        #expect(await loop.shutdown().isClean)
    }

    /// Held output first, then every cork in the order registered, then what waits for all
    /// output to be written, even corks that flushing a cork registered (a TLS stream's records
    /// go to its TCP connection's cork): a room shard's coalesced burst relies on this to learn
    /// when its members' writes are done.
    @Test func heldOutputGoesFirstThenCorksThenWhatWaitsForTheirWrites() async throws {
        final class Log: Sendable {
            let entries = Mutex<[String]>([])
        }
        final class Recorder: EndOfIterationFlushable {
            let name: String
            let log: Log
            let onFlush: () -> Void
            init(_ name: String, _ log: Log, onFlush: @escaping () -> Void = {}) {
                self.name = name
                self.log = log
                self.onFlush = onFlush
            }
            func flushAtEndOfIteration() {
                log.entries.withLock { $0.append(name) }
                onFlush()
            }
        }
        let loop = try EventLoop()
        let log = Log()
        try await loop.submit {
            let first = Recorder("first cork", log)
            let record = Recorder("record", log)
            // A TLS stream's cork: flushing it corks its records on the TCP connection.
            let encrypted = Recorder("plaintext", log) { loop.flushAtEndOfIteration(record) }
            let write = Recorder("write", log)
            let observer = Recorder("all written", log)
            // A holder (a shard's burst) that corks its members' writes, then waits for them.
            let holder = Recorder("held", log) {
                loop.flushAtEndOfIteration(encrypted)
                loop.flushAtEndOfIteration(write)
                loop.afterOutputIsWritten(observer)
            }
            loop.flushAtEndOfIteration(first)
            loop.holdOutputUntilIterationEnd(holder)
        }
        try await loop.submit { () }
        #expect(log.entries.withLock { $0 } == ["held", "first cork", "plaintext", "write", "record", "all written"])
        #expect(await loop.shutdown().isClean)
    }

    @Test func nothingWaitsForOutputOnAStoppedLoop() async throws {
        final class Observer: EndOfIterationFlushable {
            func flushAtEndOfIteration() {}
        }
        let loop = try EventLoop()
        #expect(await loop.shutdown().isClean)
        // After the loop's handles are closed: registering must not touch them.
        try await loop.submit { loop.afterOutputIsWritten(Observer()) }
    }

    /// A job on a stopped loop's after-life queue (an actor bound to the loop, say) that
    /// corks or holds output: nothing is left to wait for, the loop's handles are closed,
    /// so the flush comes at once instead of waiting for an iteration that never comes.
    @Test func corksAndHeldOutputOnAStoppedLoopAreFlushedAtOnce() async throws {
        final class Counter: EndOfIterationFlushable {
            var flushes = 0
            func flushAtEndOfIteration() { flushes += 1 }
        }
        let loop = try EventLoop()
        #expect(await loop.shutdown().isClean)
        let flushes = try await loop.submit { () -> [Int] in
            let cork = Counter(), holder = Counter()
            loop.flushAtEndOfIteration(cork)
            loop.holdOutputUntilIterationEnd(holder)
            return [cork.flushes, holder.flushes]
        }
        #expect(flushes == [1, 1])
    }

    @Test func actorsBoundToALoopRunOnIt() async throws {
        let loop = try EventLoop()
        let counter = LoopBoundCounter(loop: loop)
        for expected in 1...100 {
            let (value, onLoop) = await counter.increment()
            #expect(value == expected)
            #expect(onLoop)
        }
        #expect(await loop.shutdown().isClean)
    }

    @Test func taskExecutorPreferenceRunsTasksOnTheLoop() async throws {
        let loop = try EventLoop()
        let onLoop = await withTaskExecutorPreference(loop) { loop.inEventLoop }
        #expect(onLoop)
        let inTask = await Task(executorPreference: loop) { loop.inEventLoop }.value
        #expect(inTask)
        #expect(!loop.inEventLoop)
        #expect(await loop.shutdown().isClean)
    }

    /// A task that prefers the loop runs with the generic serial executor, so awaiting
    /// nonisolated async functions continues inline: one job, not one per call. (Run as
    /// "isolated to the loop", each such call was an executor switch and a re-enqueue.)
    @Test func awaitsInATaskPreferringTheLoopDoNotRequeueIt() async throws {
        let loop = try EventLoop()
        let jobs = await Task(executorPreference: loop) { () async -> Int in
            let before = loop.jobsRun
            var total = 0
            for i in 0..<100 { total &+= await nonisolatedIdentity(i) }
            #expect(total == 4950)
            #expect(loop.inEventLoop)
            return loop.jobsRun - before
        }.value
        #expect(jobs == 0)
        // An actor bound to the loop still runs isolated to it.
        let counter = LoopBoundCounter(loop: loop)
        let (value, isolatedOnLoop) = await counter.increment()
        #expect(value == 1 && isolatedOnLoop)
        #expect(await loop.shutdown().isClean)
    }

    @Test func isolationChecksAnswerPerThread() async throws {
        let loop = try EventLoop()
        // assumeIsolated works inside work the loop runs.
        let counter = LoopBoundCounter(loop: loop)
        let value = try await loop.submit {
            counter.assumeIsolated { $0.value }
        }
        #expect(value == 0)
        #expect(EventLoop.current == nil)
        let current = try await loop.submit { EventLoop.current === loop }
        #expect(current)
        #expect(await loop.shutdown().isClean)
    }

    @Test func groupSpreadsRoundRobin() async throws {
        let group = try EventLoopGroup(loopCount: 3)
        let picks = (0..<6).map { _ in group.next().index }
        #expect(picks == [0, 1, 2, 0, 1, 2])
        let reports = await group.shutdown()
        #expect(reports.allSatisfy { $0.isClean })
    }

    @Test func workAfterShutdownStillRunsIsolated() async throws {
        let loop = try EventLoop()
        #expect(await loop.shutdown().isClean)
        let stillIsolated = try await loop.submit { loop.inEventLoop }
        #expect(stillIsolated)
        let counter = LoopBoundCounter(loop: loop)
        let (value, onLoop) = await counter.increment()
        #expect(value == 1 && onLoop)
        #expect(await loop.shutdown().isClean) // idempotent
    }
}

@Suite("Timers on the loop")
struct TimerTests {
    @Test func sleepResumesAfterTheDelay() async throws {
        let loop = try EventLoop()
        let start = ContinuousClock.now
        try await loop.sleep(for: .milliseconds(20))
        #expect(ContinuousClock.now - start >= .milliseconds(19))
        #expect(await loop.shutdown().isClean)
    }

    @Test func cancellingASleepThrowsCancellationError() async throws {
        let loop = try EventLoop()
        let task = Task(executorPreference: loop) {
            try await loop.sleep(for: .seconds(60))
        }
        try await loop.sleep(for: .milliseconds(5))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(await loop.shutdown().isClean)
    }

    @Test func alreadyCancelledTaskDoesNotSleep() async throws {
        let loop = try EventLoop()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await loop.sleep(for: .seconds(60))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(await loop.shutdown().isClean)
    }

    @Test func shutdownFailsPendingSleepsExactlyOnce() async throws {
        let loop = try EventLoop()
        let sleepers = (0..<50).map { _ in
            Task { () -> IOError.Code? in
                do { try await loop.sleep(for: .seconds(60)); return nil } catch let error as IOError { return error.code } catch { return nil }
            }
        }
        // Make sure every sleeper has armed its timer.
        try await loop.sleep(for: .milliseconds(50))
        let report = await loop.shutdown()
        #expect(report.isClean)
        for sleeper in sleepers { #expect(await sleeper.value == .eventLoopShutdown) }
    }

    @Test func withTimeoutCancelsTheSlowOperation() async throws {
        let loop = try EventLoop()
        let error = await #expect(throws: TimeoutError.self) {
            try await loop.withTimeout(.milliseconds(20)) { try await loop.sleep(for: .seconds(60)) }
        }
        #expect(error?.timeout == .milliseconds(20))
        let value = try await loop.withTimeout(.seconds(10)) { 42 }
        #expect(value == 42)
        #expect(await loop.shutdown().isClean)
    }

    @Test func loopClockSleeps() async throws {
        let loop = try EventLoop()
        let clock = loop.clock
        let start = clock.now
        try await clock.sleep(for: .milliseconds(10))
        #expect(clock.now - start >= .milliseconds(9))
        #expect(await loop.shutdown().isClean)
    }
}

@Suite("Scheduled work")
struct ScheduledWorkTests {
    @Test func oneShotRunsOnceOnTheLoop() async throws {
        let loop = try EventLoop()
        let runs = Mutex<[Bool]>([])
        loop.schedule(after: .milliseconds(5)) { runs.withLock { $0.append(loop.inEventLoop) } }
        try await loop.sleep(for: .milliseconds(60))
        #expect(runs.withLock { $0 } == [true])
        #expect(await loop.shutdown().isClean)
    }

    @Test func cancelledWorkNeverRuns() async throws {
        let loop = try EventLoop()
        let runs = Mutex(0)
        let work = loop.schedule(after: .milliseconds(20)) { runs.withLock { $0 += 1 } }
        work.cancel()
        try await loop.sleep(for: .milliseconds(60))
        #expect(runs.withLock { $0 } == 0)
        #expect(await loop.shutdown().isClean)
    }

    @Test func repeatingWorkRepeatsUntilCancelled() async throws {
        let loop = try EventLoop()
        let runs = Mutex(0)
        let work = loop.scheduleRepeating(every: .milliseconds(2)) { runs.withLock { $0 += 1 } }
        var seen = 0
        for _ in 0..<500 where seen < 3 {
            try await loop.sleep(for: .milliseconds(5))
            seen = runs.withLock { $0 }
        }
        #expect(seen >= 3)
        try await loop.submit { work.cancel() }
        let after = runs.withLock { $0 }
        try await loop.sleep(for: .milliseconds(20))
        #expect(runs.withLock { $0 } == after)
        #expect(await loop.shutdown().isClean)
    }

    @Test func shutdownClosesPendingTimers() async throws {
        let loop = try EventLoop()
        loop.scheduleRepeating(every: .seconds(30)) {}
        loop.schedule(after: .seconds(30)) {}
        try await loop.sleep(for: .milliseconds(5))
        #expect(await loop.shutdown().isClean)
    }
}

@Suite("Signals")
struct SignalWatchTests {
    /// A signal that arrives after the handlers are installed but before anyone waits is
    /// kept for the wait (it neither kills the process nor is lost).
    @Test func aSignalBeforeTheWaitIsKept() async throws {
        let loop = try EventLoop()
        let watch = try await loop.watchSignals([SIGUSR2])
        #expect(kill(getpid(), SIGUSR2) == 0)
        try await loop.sleep(for: .milliseconds(100)) // delivered while nobody waits
        let signal: Int32 = try await watch.next()
        #expect(signal == SIGUSR2)
        #expect(await loop.shutdown().isClean)
    }

    /// A subscription reports every delivery, however close together, and the handlers stay
    /// in place between them (SIGUSR1's default action would end the test process).
    @Test func aSubscriptionReportsEveryDelivery() async throws {
        let loop = try EventLoop()
        let subscription = try await loop.subscribeToSignals([ProcessSignal(rawValue: SIGUSR1)])
        var iterator = subscription.signals.makeAsyncIterator()
        for _ in 0..<3 {
            #expect(kill(getpid(), SIGUSR1) == 0)
            #expect(await iterator.next() == ProcessSignal(rawValue: SIGUSR1))
        }
        // Two in a row, before the consumer looks: both handled, at least one reported
        // (the kernel merges a signal sent again while pending).
        #expect(kill(getpid(), SIGUSR1) == 0)
        #expect(kill(getpid(), SIGUSR1) == 0)
        #expect(await iterator.next() == ProcessSignal(rawValue: SIGUSR1))
        subscription.cancel()
        // Finished by the cancel (after whatever was still buffered).
        var remaining = 0
        while await iterator.next() != nil { remaining += 1 }
        #expect(remaining <= 1)
        #expect(await loop.shutdown().isClean)
    }

    @Test func aCancelledWatchEndsItsWait() async throws {
        let loop = try EventLoop()
        let watch = try await loop.watchSignals([ProcessSignal.hangUp])
        watch.cancel()
        await #expect(throws: CancellationError.self) { let _: ProcessSignal = try await watch.next() }
        #expect(await loop.shutdown().isClean)
    }
}

@Suite("Scheduled work started again and again")
struct RestartedScheduledWorkTests {
    /// Started, restarted, stopped and started again on one handle: each start runs the
    /// body at most once, a restart replaces the pending expiry, a stop cancels it.
    @Test func startRestartStopOnOneHandle() async throws {
        let loop = try EventLoop()
        let runs = Mutex<[Bool]>([])
        let timer = ScheduledWork(on: loop) { runs.withLock { $0.append(loop.inEventLoop) } }
        try await loop.submit {
            timer.start(after: .milliseconds(10))
            timer.start(after: .milliseconds(30)) // replaces the first expiry
        }
        try await loop.sleep(for: .milliseconds(100))
        #expect(runs.withLock { $0 } == [true])
        try await loop.submit {
            timer.start(after: .milliseconds(20))
            timer.stop()
        }
        try await loop.sleep(for: .milliseconds(60))
        #expect(runs.withLock { $0 }.count == 1, "stopped before it fired")
        timer.start(after: .milliseconds(5)) // from another thread, too
        for _ in 0..<1000 where runs.withLock({ $0.count }) < 2 { try await loop.sleep(for: .milliseconds(5)) }
        #expect(runs.withLock { $0 } == [true, true])
        timer.cancel()
        timer.start(after: .milliseconds(1)) // after cancel: never again
        try await loop.sleep(for: .milliseconds(30))
        #expect(runs.withLock { $0 }.count == 2)
        #expect(await loop.shutdown().isClean)
    }

    /// Thousands of restarts use one handle: nothing accumulates on the loop between
    /// iterations (the registry holds the one timer).
    @Test func restartsDoNotAccumulateHandles() async throws {
        let loop = try EventLoop()
        let timer = ScheduledWork(on: loop) {}
        let registered = try await loop.submit {
            for _ in 0..<10_000 { timer.start(after: .seconds(30)); timer.stop() }
            return loop.resources.count
        }
        #expect(registered == 1)
        timer.cancel()
        try await loop.sleep(for: .milliseconds(5))
        #expect(try await loop.submit { loop.resources.count } == 0)
        #expect(await loop.shutdown().isClean)
    }

    @Test func shutdownClosesAnOpenTimer() async throws {
        let loop = try EventLoop()
        let timer = ScheduledWork(on: loop) {}
        timer.start(after: .seconds(30))
        try await loop.sleep(for: .milliseconds(5))
        #expect(await loop.shutdown().isClean)
    }
}

@concurrent private func nonisolatedIdentity(_ value: Int) async -> Int { value }
