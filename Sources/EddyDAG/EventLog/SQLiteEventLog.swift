import CSQLite
import Dispatch
import Foundation
import Logging
import EddyShared

/// The durable, append-only event log of every run, in SQLite (WAL mode).
///
/// Guarantees:
/// - events are appended in the order they are queued (per run: `seq` order) by one writer
///   thread using **group commit**: everything queued while a transaction is being written goes
///   into the next transaction;
/// - committed events are handed to the sink (publication) only after `COMMIT` returned, in
///   order; so a subscriber never sees an event that is not in the database (durability per
///   ``EventLogConfiguration/Synchronous``);
/// - `epoch` identifies this database; it is created once with the database and never changes
///   while the file exists;
/// - on open, runs that were not finished (the process died) are completed with an `error`
///   (`interrupted`), `node_state cancelled` for their unfinished nodes and `execution_complete`
///   `interrupted`: never silently lost.
///
/// - Important: reads use a second connection under a mutex and may be called from any thread.
///
/// Threads and locks: the writer connection belongs to the writer thread once `init` returns
/// (before that, `init` uses it for setup and recovery); the reader connection is used only
/// under `readerLock`; every other mutable field is in the `WriterQueue` behind `queue`.
/// That confinement, which the compiler cannot see, is why the class is `@unchecked Sendable`.
public final class SQLiteEventLog: @unchecked Sendable {
    public let configuration: EventLogConfiguration
    /// Identity of this database's history (see `EventEnvelope.epoch`).
    public let epoch: Int64
    /// Runs found live at open and marked interrupted.
    public private(set) var recoveredRuns: [String] = []

    let writer: SQLiteDatabase
    private let reader: SQLiteDatabase
    /// Guards `reader`, which is not thread-safe. The mutex holds no value of its own: the
    /// connection stays a plain property so that ``withReader(_:)`` can lend it to the
    /// caller's closure while the mutex is held.
    private let readerLock = Mutex(())
    private let queue = Mutex(WriterQueue())
    /// Wakes the writer thread when it sleeps with nothing to do (see ``WriterQueue/writerAsleep``).
    ///
    /// A counting semaphore rather than a condition variable: a signal given before the writer
    /// reaches `wait()` is remembered, so there is no lost wake-up, and the writer blocks in the
    /// kernel instead of polling. The `writerAsleep` flag, set and cleared under `queue`, makes
    /// producers signal once per sleep, so the count never exceeds one and the writer never
    /// wakes for nothing.
    private let wakeUp = DispatchSemaphore(value: 0)
    private let now: @Sendable () -> Int64

    /// Number of transactions committed so far (group commits); for benchmarks.
    public var committedTransactions: Int {
        queue.withLock { $0.commitCount }
    }

    public init(configuration: EventLogConfiguration = EventLogConfiguration(), now: @escaping @Sendable () -> Int64)
        throws(DAGEngineError)
    {
        self.configuration = configuration
        self.now = now
        writer = try SQLiteDatabase(path: configuration.path)
        try writer.execute("PRAGMA journal_mode=WAL")
        try writer.execute("PRAGMA synchronous=\(configuration.synchronous.rawValue)")
        try writer.execute(
            """
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
              finished INTEGER NOT NULL DEFAULT 0, status TEXT, finished_ms INTEGER);
            CREATE TABLE IF NOT EXISTS events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
              ts INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;
            """)
        if let stored = try writer.queryStrings("SELECT value FROM meta WHERE key='epoch'").first,
            let storedEpoch = Int64(stored)
        {
            epoch = storedEpoch
        } else {
            // Milliseconds * 1000 + a random suffix: distinct even for databases created in the same
            // millisecond, and below 2^53 so browsers read it exactly.
            let created = now() * 1000 + Int64.random(in: 0..<1000)
            try writer.execute("INSERT INTO meta(key, value) VALUES('epoch', '\(created)')")
            epoch = created
        }
        reader = try SQLiteDatabase(path: configuration.path)
        recoveredRuns = try recoverInterruptedRuns()
        if !recoveredRuns.isEmpty {
            configuration.logger.notice("event log: runs left live by the last process marked interrupted", metadata: ["runs": "\(recoveredRuns.count)"])
        }
        _ = try applyRetention()
        // The thread holds the log until its loop returns (after `close()` or a storage
        // error); the log does not hold the thread, or the two would keep each other forever.
        let thread = Thread { [self] in self.writerLoop() }
        thread.name = "eddy-event-log"
        thread.start()
    }

    /// Sets the receiver of committed events (one; held weakly).
    func attach(_ sink: any CommittedEventSink) {
        queue.withLock { $0.sink = sink }
    }

    /// Queues operations; returns immediately. Throws if the writer has failed or is closed.
    func append(_ operations: [WriteOperation]) throws(DAGEngineError) {
        var queued = operations
        try append(moving: &queued)
    }

    /// Queues operations and leaves `operations` empty (its storage may be swapped with the
    /// queue's, so the hot path copies nothing).
    func append(moving operations: inout [WriteOperation]) throws(DAGEngineError) {
        let wakeWriter = try queue.withLock { (queue) throws(DAGEngineError) -> Bool in
            if let error = queue.writeError { throw error }
            guard !queue.closing else { throw DAGEngineError.closed }
            if queue.pending.isEmpty {
                swap(&queue.pending, &operations)
            } else {
                queue.pending.append(contentsOf: operations)
            }
            return queue.takeWriterWakeUp()
        }
        operations.removeAll(keepingCapacity: true)
        if wakeWriter { wakeUp.signal() }
    }

    /// Returns once everything queued before the call is committed and published.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            do {
                try append([.barrier({ continuation.resume() })])
            } catch {
                continuation.resume()
            }
        }
    }

    /// Commits what is queued, stops the writer thread and refuses further appends.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (alreadyStopped, wakeWriter) = queue.withLock { queue in
                if queue.stopped { return (true, false) }
                queue.stoppedWaiters.append(continuation)
                queue.closing = true
                return (false, queue.takeWriterWakeUp())
            }
            if alreadyStopped { continuation.resume() }
            if wakeWriter { wakeUp.signal() }
        }
    }

    /// Why appends are refused right now: the writer's storage error, or `closed`; `nil` when open.
    var refusal: DAGEngineError? {
        queue.withLock { queue in queue.writeError ?? (queue.closing ? DAGEngineError.closed : nil) }
    }

    /// The first storage error of the writer, if any (after which appends are refused).
    public var failure: DAGEngineError? {
        queue.withLock { $0.writeError }
    }

    // MARK: Writer thread

    /// What the writer thread does next, decided under the queue's mutex.
    private enum WriterStep {
        /// Nothing queued: sleep until a producer signals `wakeUp`.
        case sleep
        /// Commit the batch just taken, then publish it to the sink.
        case write((any CommittedEventSink)?)
        /// Closing and nothing queued: report the stop and end the thread.
        case stop([CheckedContinuation<Void, Never>], (any CommittedEventSink)?)
    }

    private func writerLoop() {
        let statements: WriterStatements
        do {
            statements = try WriterStatements(writer)
        } catch {
            fail(error)
            return
        }
        // Made here, on the writer thread, after whoever runs the log bootstrapped its metrics.
        let metrics = EventLogMetrics()
        // Swapped with the queue's pending operations, so the two buffers keep their capacity.
        var batch: [WriteOperation] = []
        while true {
            let step = queue.withLock { queue -> WriterStep in
                if queue.pending.isEmpty {
                    guard queue.closing else {
                        queue.writerAsleep = true
                        return .sleep
                    }
                    queue.stopped = true
                    let waiters = queue.stoppedWaiters
                    queue.stoppedWaiters = []
                    return .stop(waiters, queue.sink)
                }
                swap(&queue.pending, &batch)
                return .write(queue.sink)
            }
            switch step {
            case .sleep:
                wakeUp.wait()
            case .stop(let waiters, let sink):
                sink?.logStopped()
                for waiter in waiters { waiter.resume() }
                return
            case .write(let sink):
                let started = ContinuousClock.now
                do {
                    try commit(batch, statements)
                } catch {
                    fail(error)
                    return
                }
                metrics.committed(batch, duration: ContinuousClock.now - started)
                publish(batch, to: sink)
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    private func commit(_ batch: [WriteOperation], _ statements: WriterStatements) throws(DAGEngineError) {
        try statements.begin.run()
        do {
            for operation in batch {
                switch operation {
                case .runStarted(let runID, let created):
                    statements.insertRun.bind(runID, at: 1)
                    statements.insertRun.bind(created, at: 2)
                    try statements.insertRun.run()
                case .event(let event):
                    try insert(event, with: statements.insertEvent)
                case .runFinished(let runID, let status, let finishedMs):
                    statements.finishRun.bind(status.rawValue, at: 1)
                    statements.finishRun.bind(finishedMs, at: 2)
                    statements.finishRun.bind(runID, at: 3)
                    try statements.finishRun.run()
                case .barrier:
                    break
                }
            }
            try statements.commit.run()
            queue.withLock { $0.commitCount += 1 }
        } catch {
            do {
                try statements.rollback.run()
            } catch let rollback {
                // The commit's error is the one thrown (and logged by `fail`); this one only explains more.
                configuration.logger.error("event log: rollback after a failed commit failed", metadata: ["error": "\(rollback)"])
            }
            throw error
        }
    }

    /// Inserts one event, binding its strings and body without copies (the hot path).
    private func insert(_ event: LoggedEvent, with statement: SQLiteStatement) throws(DAGEngineError) {
        var failure: DAGEngineError?
        event.envelope.dagID.withCString { runID in
            event.envelope.event.typeName.withCString { type in
                event.bytes.withUnsafeBytes { body in
                    statement.bindNoCopy(text: runID, at: 1)
                    statement.bind(event.envelope.seq, at: 2)
                    statement.bindNoCopy(text: type, at: 3)
                    statement.bind(event.envelope.ts, at: 4)
                    statement.bindNoCopy(blob: body, at: 5)
                    do {
                        try statement.run()  // steps, then resets and clears the bindings
                    } catch let error as DAGEngineError {
                        failure = error
                    } catch {
                        failure = DAGEngineError.storage(String(describing: error))
                    }
                }
            }
        }
        if let failure { throw failure }
    }

    private func publish(_ batch: [WriteOperation], to sink: (any CommittedEventSink)?) {
        var events: [LoggedEvent] = []
        events.reserveCapacity(batch.count)
        var runFinished = false
        for operation in batch {
            switch operation {
            case .event(let event): events.append(event)
            case .barrier(let done):
                if !events.isEmpty {
                    sink?.eventsCommitted(events)
                    events.removeAll(keepingCapacity: true)
                }
                done()
            case .runFinished: runFinished = true
            case .runStarted: break
            }
        }
        if !events.isEmpty { sink?.eventsCommitted(events) }
        guard runFinished else { return }
        do {
            let deleted = try applyRetention()
            if !deleted.isEmpty { sink?.runsDeleted(deleted) }
        } catch {
            // Retention is retried after the next finished run; the events themselves are committed.
            configuration.logger.warning("event log: retention pass failed", metadata: ["error": "\(error)"])
        }
    }

    private func fail(_ error: DAGEngineError) {
        configuration.logger.error("event log: write failed; the log stops and the engine refuses new events",
                                   metadata: ["error": "\(error)", "path": "\(configuration.path)"])
        let (leftovers, waiters, sink) = queue.withLock { queue in
            queue.writeError = error
            queue.stopped = true
            let leftovers = queue.pending
            queue.pending = []
            let waiters = queue.stoppedWaiters
            queue.stoppedWaiters = []
            return (leftovers, waiters, queue.sink)
        }
        sink?.logStopped()
        for case .barrier(let done) in leftovers { done() }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Reads

    func withReader<Result: Sendable>(_ body: (SQLiteDatabase) throws(DAGEngineError) -> Result)
        throws(DAGEngineError) -> Result
    {
        try readerLock.withLock { (_) throws(DAGEngineError) in try body(reader) }
    }

    /// The canonical bytes of the run's events with `after < seq <= upTo`, in order.
    public func eventBytes(runID: String, after: Int64, upTo: Int64 = .max) throws(DAGEngineError) -> [[UInt8]] {
        try withReader { (db) throws(DAGEngineError) in
            let select = try db.prepare("SELECT body FROM events WHERE run_id=? AND seq>? AND seq<=? ORDER BY seq")
            select.bind(runID, at: 1)
            select.bind(after, at: 2)
            select.bind(upTo, at: 3)
            var result: [[UInt8]] = []
            while try select.step() { result.append(select.blob(at: 0)) }
            return result
        }
    }

    /// The run's events with `after < seq <= upTo`, in order, as the log stored them: the bytes
    /// the engine encoded when it logged them (byte-identical to the live events), not decoded.
    public func encodedEvents(runID: String, after: Int64, upTo: Int64 = .max) throws(DAGEngineError) -> [EncodedEvent] {
        let epoch = self.epoch
        return try withReader { (db) throws(DAGEngineError) in
            let select = try db.prepare("SELECT seq, body FROM events WHERE run_id=? AND seq>? AND seq<=? ORDER BY seq")
            select.bind(runID, at: 1)
            select.bind(after, at: 2)
            select.bind(upTo, at: 3)
            var result: [EncodedEvent] = []
            while try select.step() {
                result.append(
                    EncodedEvent(dagID: runID, epoch: epoch, seq: select.int64(at: 0), isLogged: true, bytes: select.blob(at: 1)))
            }
            return result
        }
    }

    /// The run's events with `after < seq <= upTo`, decoded, in order.
    public func events(runID: String, after: Int64, upTo: Int64 = .max) throws(DAGEngineError) -> [EventEnvelope] {
        var result: [EventEnvelope] = []
        for bytes in try eventBytes(runID: runID, after: after, upTo: upTo) {
            do {
                result.append(try ProtocolDecoder.decodeEnvelope(bytes))
            } catch {
                throw DAGEngineError.storage("stored event of run '\(runID)' does not decode: \(error)")
            }
        }
        return result
    }

    /// Every run the log holds, oldest first (runs started in the same millisecond in the
    /// order they started).
    public func runs() throws(DAGEngineError) -> [RunRecord] {
        try withReader { (db) throws(DAGEngineError) in
            let select = try db.prepare(
                """
                SELECT r.run_id, r.created_ms, r.finished, r.status,
                  (SELECT COALESCE(MAX(seq), 0) FROM events e WHERE e.run_id = r.run_id)
                FROM runs r ORDER BY r.created_ms, r.rowid
                """)
            var result: [RunRecord] = []
            while try select.step() {
                result.append(
                    RunRecord(
                        runID: select.text(at: 0), createdMs: select.int64(at: 1), finished: select.int64(at: 2) != 0,
                        status: ExecutionStatus(rawValue: select.text(at: 3)), lastSeq: select.int64(at: 4)))
            }
            return result
        }
    }

    /// Whether the log has a record of `runID`.
    public func hasRun(_ runID: String) throws(DAGEngineError) -> Bool {
        try withReader { (db) throws(DAGEngineError) in
            try !db.queryStrings("SELECT run_id FROM runs WHERE run_id=?", [runID]).isEmpty
        }
    }

    public var currentTime: Int64 { now() }
}

/// The writer connection's prepared statements.
private struct WriterStatements {
    let begin, commit, rollback, insertRun, insertEvent, finishRun: SQLiteStatement
    init(_ db: SQLiteDatabase) throws(DAGEngineError) {
        begin = try db.prepare("BEGIN IMMEDIATE")
        commit = try db.prepare("COMMIT")
        rollback = try db.prepare("ROLLBACK")
        insertRun = try db.prepare("INSERT OR IGNORE INTO runs(run_id, created_ms) VALUES(?, ?)")
        insertEvent = try db.prepare("INSERT INTO events(run_id, seq, type, ts, body) VALUES(?, ?, ?, ?, ?)")
        finishRun = try db.prepare("UPDATE runs SET finished=1, status=?, finished_ms=? WHERE run_id=?")
    }
}

/// The writer thread's work queue and the log's state shared with producers; behind
/// `SQLiteEventLog.queue`.
private struct WriterQueue {
    var pending: [WriteOperation] = []
    var closing = false
    var stopped = false
    /// Held weakly: the sink (the engine's hub) owns the log, not the other way round.
    weak var sink: (any CommittedEventSink)?
    var writeError: DAGEngineError?
    var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    var commitCount = 0
    /// Set by the writer thread, under the mutex, just before it waits on `wakeUp`.
    var writerAsleep = false

    /// Whether the caller must signal `wakeUp` (after releasing the mutex): true exactly once
    /// per sleep of the writer.
    mutating func takeWriterWakeUp() -> Bool {
        guard writerAsleep else { return false }
        writerAsleep = false
        return true
    }
}
