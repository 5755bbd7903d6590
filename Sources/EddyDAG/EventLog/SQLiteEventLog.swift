import CSQLite
import Foundation

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
/// - Important: reads use a second connection under a lock and may be called from any thread.
public final class SQLiteEventLog: @unchecked Sendable {
    public let configuration: EventLogConfiguration
    /// Identity of this database's history (see `EventEnvelope.epoch`).
    public let epoch: Int64
    /// Runs found live at open and marked interrupted.
    public private(set) var recoveredRuns: [String] = []

    let writer: SQLiteDatabase
    private let reader: SQLiteDatabase
    private let readLock = NSLock()
    private let queue = NSCondition()
    private var pending: [WriteOperation] = []
    private var spare: [WriteOperation] = []
    private var closing = false
    private var stopped = false
    private weak var sinkObject: (any CommittedEventSink)?
    private var writeError: DAGEngineError?
    private var thread: Thread?
    private var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    private let now: @Sendable () -> Int64
    private var commitCount = 0

    /// Number of transactions committed so far (group commits); for benchmarks.
    public var committedTransactions: Int {
        queue.lock()
        defer { queue.unlock() }
        return commitCount
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
        if let stored = try writer.queryStrings("SELECT value FROM meta WHERE key='epoch'").first, let e = Int64(stored) {
            epoch = e
        } else {
            // Milliseconds * 1000 + a random suffix: distinct even for databases created in the same
            // millisecond, and below 2^53 so browsers read it exactly.
            let created = now() * 1000 + Int64.random(in: 0..<1000)
            try writer.execute("INSERT INTO meta(key, value) VALUES('epoch', '\(created)')")
            epoch = created
        }
        reader = try SQLiteDatabase(path: configuration.path)
        recoveredRuns = try recoverInterruptedRuns()
        _ = try applyRetention()
        let thread = Thread { [self] in self.writerLoop() }
        thread.name = "eddy-event-log"
        self.thread = thread
        thread.start()
    }

    /// Sets the receiver of committed events (one; held weakly).
    func attach(_ sink: any CommittedEventSink) {
        queue.lock()
        sinkObject = sink
        queue.unlock()
    }

    /// Queues operations; returns immediately. Throws if the writer has failed or is closed.
    func append(_ operations: [WriteOperation]) throws(DAGEngineError) {
        var ops = operations
        try append(moving: &ops)
    }

    /// Queues operations and leaves `operations` empty (its storage may be swapped with the
    /// queue's, so the hot path copies nothing).
    func append(moving operations: inout [WriteOperation]) throws(DAGEngineError) {
        queue.lock()
        defer { queue.unlock() }
        if let e = writeError { throw e }
        guard !closing else { throw DAGEngineError.closed }
        if pending.isEmpty {
            swap(&pending, &operations)
            queue.signal()
        } else {
            pending.append(contentsOf: operations)
        }
        operations.removeAll(keepingCapacity: true)
    }

    /// Returns once everything queued before the call is committed and published.
    public func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            do {
                try append([.barrier({ c.resume() })])
            } catch {
                c.resume()
            }
        }
    }

    /// Commits what is queued, stops the writer thread and refuses further appends.
    public func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            queue.lock()
            if stopped {
                queue.unlock()
                c.resume()
                return
            }
            stoppedWaiters.append(c)
            closing = true
            queue.signal()
            queue.unlock()
        }
    }

    /// Why appends are refused right now: the writer's storage error, or `closed`; `nil` when open.
    var refusal: DAGEngineError? {
        queue.lock()
        defer { queue.unlock() }
        return writeError ?? (closing ? DAGEngineError.closed : nil)
    }

    /// The first storage error of the writer, if any (after which appends are refused).
    public var failure: DAGEngineError? {
        queue.lock()
        defer { queue.unlock() }
        return writeError
    }

    // MARK: Writer thread

    private func writerLoop() {
        let statements: WriterStatements
        do {
            statements = try WriterStatements(writer)
        } catch {
            fail(error)
            return
        }
        while true {
            queue.lock()
            while pending.isEmpty && !closing { queue.wait() }
            if pending.isEmpty && closing {
                stopped = true
                let waiters = stoppedWaiters
                stoppedWaiters = []
                let sink = sinkObject
                queue.unlock()
                sink?.logStopped()
                for w in waiters { w.resume() }
                return
            }
            swap(&pending, &spare)
            let sink = sinkObject
            queue.unlock()
            let batch = spare
            spare.removeAll(keepingCapacity: true)
            do {
                try commit(batch, statements)
            } catch {
                fail(error)
                return
            }
            publish(batch, to: sink)
        }
    }

    private func commit(_ batch: [WriteOperation], _ s: WriterStatements) throws(DAGEngineError) {
        try s.begin.run()
        do {
            for op in batch {
                switch op {
                case .runStarted(let id, let created):
                    s.insertRun.bind(id, at: 1)
                    s.insertRun.bind(created, at: 2)
                    try s.insertRun.run()
                case .event(let e):
                    try insert(e, with: s.insertEvent)
                case .runFinished(let id, let status, let finishedMs):
                    s.finishRun.bind(status.rawValue, at: 1)
                    s.finishRun.bind(finishedMs, at: 2)
                    s.finishRun.bind(id, at: 3)
                    try s.finishRun.run()
                case .barrier:
                    break
                }
            }
            try s.commit.run()
            queue.lock()
            commitCount += 1
            queue.unlock()
        } catch {
            try? s.rollback.run()
            throw error
        }
    }

    /// Inserts one event, binding its strings and body without copies (the hot path).
    private func insert(_ e: LoggedEvent, with stmt: SQLiteStatement) throws(DAGEngineError) {
        var failure: DAGEngineError?
        e.envelope.dagID.withCString { runID in
            e.envelope.event.typeName.withCString { type in
                e.bytes.withUnsafeBytes { body in
                    stmt.bindNoCopy(text: runID, at: 1)
                    stmt.bind(e.envelope.seq, at: 2)
                    stmt.bindNoCopy(text: type, at: 3)
                    stmt.bind(e.envelope.ts, at: 4)
                    stmt.bindNoCopy(blob: body, at: 5)
                    do {
                        try stmt.run()  // steps, then resets and clears the bindings
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
        for op in batch {
            switch op {
            case .event(let e): events.append(e)
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
        if runFinished, let deleted = try? applyRetention(), !deleted.isEmpty {
            sink?.runsDeleted(deleted)
        }
    }

    private func fail(_ error: DAGEngineError) {
        queue.lock()
        writeError = error
        stopped = true
        let leftovers = pending
        pending = []
        let waiters = stoppedWaiters
        stoppedWaiters = []
        let sink = sinkObject
        queue.unlock()
        sink?.logStopped()
        for case .barrier(let done) in leftovers { done() }
        for w in waiters { w.resume() }
    }

    // MARK: Reads

    func withReader<T>(_ body: (SQLiteDatabase) throws(DAGEngineError) -> T) throws(DAGEngineError) -> T {
        readLock.lock()
        defer { readLock.unlock() }
        return try body(reader)
    }

    /// The canonical bytes of the run's events with `after < seq <= upTo`, in order.
    public func eventBytes(runID: String, after: Int64, upTo: Int64 = .max) throws(DAGEngineError) -> [[UInt8]] {
        try withReader { (db) throws(DAGEngineError) in
            let stmt = try db.prepare("SELECT body FROM events WHERE run_id=? AND seq>? AND seq<=? ORDER BY seq")
            stmt.bind(runID, at: 1)
            stmt.bind(after, at: 2)
            stmt.bind(upTo, at: 3)
            var result: [[UInt8]] = []
            while try stmt.step() { result.append(stmt.blob(at: 0)) }
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

    /// Every run the log holds, oldest first.
    public func runs() throws(DAGEngineError) -> [RunRecord] {
        try withReader { (db) throws(DAGEngineError) in
            let stmt = try db.prepare(
                """
                SELECT r.run_id, r.created_ms, r.finished, r.status,
                  (SELECT COALESCE(MAX(seq), 0) FROM events e WHERE e.run_id = r.run_id)
                FROM runs r ORDER BY r.created_ms, r.run_id
                """)
            var result: [RunRecord] = []
            while try stmt.step() {
                result.append(
                    RunRecord(
                        runID: stmt.text(at: 0), createdMs: stmt.int64(at: 1), finished: stmt.int64(at: 2) != 0,
                        status: ExecutionStatus(rawValue: stmt.text(at: 3)), lastSeq: stmt.int64(at: 4)))
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
