import CSQLite

/// A prepared statement of a ``SQLiteDatabase``; finalized exactly once, in `deinit`.
///
/// - Important: confined like its database.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private let database: SQLiteDatabase

    init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
        self.stmt = stmt
        self.database = database
    }

    deinit {
        sqlite3_finalize(stmt)
    }

    func bind(_ value: String, at index: Int32) {
        sqlite3_bind_text(stmt, index, value, -1, csqlite_transient())
    }

    func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(stmt, index, value)
    }

    /// Binds `bytes` as a blob; SQLite copies them.
    func bind(_ bytes: [UInt8], at index: Int32) {
        bytes.withUnsafeBytes { buf in
            _ = sqlite3_bind_blob(stmt, index, buf.baseAddress, Int32(buf.count), csqlite_transient())
        }
    }

    /// Binds a NUL-terminated string without copying (`SQLITE_STATIC`).
    /// - Important: `text` must stay valid until the statement is reset (see ``run()``).
    func bindNoCopy(text: UnsafePointer<CChar>, at index: Int32) {
        sqlite3_bind_text(stmt, index, text, -1, nil)
    }

    /// Binds bytes as a blob without copying (`SQLITE_STATIC`).
    /// - Important: `bytes` must stay valid until the statement is reset (see ``run()``).
    func bindNoCopy(blob bytes: UnsafeRawBufferPointer, at index: Int32) {
        sqlite3_bind_blob(stmt, index, bytes.baseAddress, Int32(bytes.count), nil)
    }

    /// Steps once; `true` when a row is available, `false` when done.
    func step() throws(DAGEngineError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            sqlite3_reset(stmt)
            throw DAGEngineError.storage("step: \(database.lastErrorMessage) (\(rc))")
        }
    }

    /// Steps to completion for statements that return no rows, then resets for reuse.
    func run() throws(DAGEngineError) {
        defer { reset() }
        while try step() {}
    }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(stmt, column)
    }

    func text(at column: Int32) -> String {
        guard let characters = sqlite3_column_text(stmt, column) else { return "" }
        return String(cString: characters)
    }

    func blob(at column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let bytes = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}
