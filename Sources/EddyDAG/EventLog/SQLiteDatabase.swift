import CSQLite

/// One SQLite connection.
///
/// - Important: not thread-safe by itself; every instance is confined to one thread or used
///   under one lock by its owner (``SQLiteEventLog``). Closed exactly once, in `deinit`.
final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?

    init(path: String) throws(DAGEngineError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw DAGEngineError.storage("opening \(path): \(message) (\(rc))")
        }
        handle = db
        sqlite3_busy_timeout(db, 5_000)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    var lastErrorMessage: String {
        handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"
    }

    func execute(_ sql: String) throws(DAGEngineError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw DAGEngineError.storage("\(sql.prefix(60)): \(message) (\(rc))")
        }
    }

    func prepare(_ sql: String) throws(DAGEngineError) -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw DAGEngineError.storage("preparing \(sql.prefix(60)): \(lastErrorMessage) (\(rc))")
        }
        return SQLiteStatement(stmt, database: self)
    }

    /// Runs `sql` with text bindings and returns the first column of every row as text.
    func queryStrings(_ sql: String, _ bindings: [String] = []) throws(DAGEngineError) -> [String] {
        let stmt = try prepare(sql)
        for (offset, binding) in bindings.enumerated() { stmt.bind(binding, at: Int32(offset + 1)) }
        var result: [String] = []
        while try stmt.step() { result.append(stmt.text(at: 0)) }
        return result
    }
}
