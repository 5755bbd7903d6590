/// Recovery of runs that were live when the process stopped.
extension SQLiteEventLog {
    /// Finds unfinished runs, appends their interruption events and marks them finished.
    /// Runs on the opening thread before the writer thread starts.
    func recoverInterruptedRuns() throws(DAGEngineError) -> [String] {
        let live = try writer.queryStrings("SELECT run_id FROM runs WHERE finished=0 ORDER BY created_ms, rowid")
        guard !live.isEmpty else { return [] }
        let insert = try writer.prepare("INSERT INTO events(run_id, seq, type, ts, body) VALUES(?, ?, ?, ?, ?)")
        let finish = try writer.prepare("UPDATE runs SET finished=1, status=?, finished_ms=? WHERE run_id=?")
        let select = try writer.prepare("SELECT body FROM events WHERE run_id=? ORDER BY seq")
        let ts = currentTime
        try writer.execute("BEGIN IMMEDIATE")
        do {
            for runID in live {
                var store = DAGStateStore(dagID: runID, epoch: epoch)
                select.bind(runID, at: 1)
                while try select.step() {
                    let bytes = select.blob(at: 0)
                    // An event this version cannot decode cannot change the replayed state; skipping it
                    // still marks the run interrupted, which is what recovery is for.
                    guard let envelope = try? ProtocolDecoder.decodeEnvelope(bytes) else { continue }
                    // An adopted run keeps the epoch it was started in (its first event's).
                    if store.seq == 0 && envelope.seq == 1 { store = DAGStateStore(dagID: runID, epoch: envelope.epoch) }
                    store.apply(envelope)
                }
                select.reset()
                var status = store.state.status
                if !store.isFinished {
                    status = .interrupted
                    for event in Self.interruptionEvents(for: store) {
                        let envelope = EventEnvelope(dagID: runID, epoch: store.epoch, seq: store.seq + 1, ts: ts, event: event)
                        store.apply(envelope)
                        insert.bind(runID, at: 1)
                        insert.bind(envelope.seq, at: 2)
                        insert.bind(event.typeName, at: 3)
                        insert.bind(ts, at: 4)
                        insert.bind(ProtocolEncoder.encode(envelope), at: 5)
                        try insert.run()
                    }
                }
                finish.bind(status.rawValue, at: 1)
                finish.bind(ts, at: 2)
                finish.bind(runID, at: 3)
                try finish.run()
            }
            try writer.execute("COMMIT")
        } catch {
            // Safe to drop: the error thrown is the cause; a failed ROLLBACK leaves SQLite to roll back on close.
            try? writer.execute("ROLLBACK")
            throw error
        }
        return live
    }

    /// `error(interrupted)`, `node_state cancelled` for every unfinished node, `execution_complete(interrupted)`.
    static func interruptionEvents(for store: DAGStateStore) -> [ServerEvent] {
        var events: [ServerEvent] = [
            .error(ServerEvent.ErrorEvent(
                code: "interrupted",
                message: "the server stopped while this run was live; it was marked interrupted on restart"))
        ]
        var results: [JSONValue.Member] = []
        for node in store.state.nodes {
            if !node.status.isTerminal, NodeTransitionTable.allows(node.status, .cancelled) {
                events.append(.nodeState(ServerEvent.NodeState(nodeID: node.id, status: .cancelled)))
            }
            if node.status == .completed { results.append(JSONValue.Member(node.id, node.output ?? .null)) }
        }
        events.append(.executionComplete(ServerEvent.ExecutionComplete(status: .interrupted, results: results)))
        return events
    }

    /// Deletes finished runs beyond the retention policy; returns their ids.
    func applyRetention() throws(DAGEngineError) -> [String] {
        let policy = configuration.retention
        var doomed: [String] = []
        if let age = policy.maxAge {
            let cutoff = currentTime - age.components.seconds * 1000 - age.components.attoseconds / 1_000_000_000_000_000
            doomed += try writer.queryStrings(
                "SELECT run_id FROM runs WHERE finished=1 AND finished_ms < \(cutoff)")
        }
        if let keep = policy.maxFinishedRuns {
            doomed += try writer.queryStrings(
                "SELECT run_id FROM runs WHERE finished=1 ORDER BY finished_ms DESC, rowid DESC LIMIT -1 OFFSET \(max(0, keep))")
        }
        guard !doomed.isEmpty else { return [] }
        let unique = Array(Set(doomed)).sorted()
        let deleteEvents = try writer.prepare("DELETE FROM events WHERE run_id=?")
        let deleteRun = try writer.prepare("DELETE FROM runs WHERE run_id=?")
        try writer.execute("BEGIN IMMEDIATE")
        do {
            for id in unique {
                deleteEvents.bind(id, at: 1)
                try deleteEvents.run()
                deleteRun.bind(id, at: 1)
                try deleteRun.run()
            }
            try writer.execute("COMMIT")
        } catch {
            // Safe to drop: the error thrown is the cause; a failed ROLLBACK leaves SQLite to roll back on close.
            try? writer.execute("ROLLBACK")
            throw error
        }
        return unique
    }
}
