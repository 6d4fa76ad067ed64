import GlimpseDomain
import VaporCSQLite

/// One SQLite connection (the library sqlite-nio compiles in) with a cache of prepared
/// statements, decoding rows straight into `SQLRow`s.
///
/// Not thread-safe: `SQLiteExecutor`'s pools hand a connection to one caller at a time.
final class SQLiteConnection: @unchecked Sendable {
    // @unchecked: every use goes through a `ConnectionPool` checkout, so one thread at a time
    // touches `handle` and `statements`.
    private var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]

    /// Statements kept prepared per connection; past it the cache starts again (list queries
    /// with many filter combinations must not grow it for ever).
    static let statementCacheLimit = 256

    final class Statement {
        let pointer: OpaquePointer
        let columns: SQLColumns
        init(pointer: OpaquePointer, columns: SQLColumns) {
            self.pointer = pointer
            self.columns = columns
        }
    }

    /// Opens (creating) the database at `path` (`:memory:` for a private in-memory one).
    init(path: String, busyTimeoutMilliseconds: Int32) throws {
        let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        var db: OpaquePointer?
        let rc = sqlite_nio_sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "code \(rc)"
            sqlite_nio_sqlite3_close(db)
            throw GlimpseError(.internal, "The image catalog could not be opened.", underlying: SQLiteFailure(code: rc, message: message))
        }
        handle = db
        sqlite_nio_sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit { close() }

    func close() {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
        statements = [:]
        if let handle { sqlite_nio_sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs one statement with `?` placeholders and returns every row it produced. The
    /// statement is reset before returning, so no read transaction stays open behind it.
    func execute(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let statement = try prepared(sql)
        let s = statement.pointer
        // Every parameter is bound again below. No sqlite3_clear_bindings: it marks a statement
        // whose plan depends on a bound value (`deleted = ?` does) for a new prepare.
        defer { sqlite_nio_sqlite3_reset(s) }
        for (i, value) in binds.enumerated() {
            let position = Int32(i + 1)
            let rc: Int32
            switch value {
            case .int(let v): rc = sqlite_nio_sqlite3_bind_int64(s, position, v)
            case .double(let v): rc = sqlite_nio_sqlite3_bind_double(s, position, v)
            case .bool(let v): rc = sqlite_nio_sqlite3_bind_int64(s, position, v ? 1 : 0)
            case .null: rc = sqlite_nio_sqlite3_bind_null(s, position)
            case .text(let v): rc = Self.bindText(s, position, v)
            case .date(let d): rc = Self.bindText(s, position, SQLTimestamp.format(d))
            }
            guard rc == SQLITE_OK else { throw failure(rc) }
        }
        let count = Int32(statement.columns.names.count)
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite_nio_sqlite3_step(s)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw failure(rc) }
            var cells: [SQLValue] = []
            cells.reserveCapacity(Int(count))
            for c in 0..<count {
                switch sqlite_nio_sqlite3_column_type(s, c) {
                case SQLITE_INTEGER: cells.append(.int(sqlite_nio_sqlite3_column_int64(s, c)))
                case SQLITE_FLOAT: cells.append(.double(sqlite_nio_sqlite3_column_double(s, c)))
                case SQLITE_NULL: cells.append(.null)
                default:  // TEXT, and BLOB read as its bytes
                    let bytes = Int(sqlite_nio_sqlite3_column_bytes(s, c))
                    if let text = sqlite_nio_sqlite3_column_text(s, c) {
                        cells.append(.text(String(decoding: UnsafeBufferPointer(start: text, count: bytes), as: UTF8.self)))
                    } else {
                        cells.append(.text(""))
                    }
                }
            }
            rows.append(SQLRow(columns: statement.columns, cells: cells))
        }
        return rows
    }

    private static func bindText(_ s: OpaquePointer, _ position: Int32, _ text: String) -> Int32 {
        var text = text
        return text.withUTF8 { utf8 in
            sqlite_nio_sqlite3_bind_text64(
                s, position, UnsafeRawPointer(utf8.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self),
                UInt64(utf8.count), Self.transient, UInt8(SQLITE_UTF8))
        }
    }

    /// SQLITE_TRANSIENT: SQLite copies the bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func prepared(_ sql: String) throws -> Statement {
        if let cached = statements[sql] { return cached }
        guard let handle else { throw GlimpseError(.unavailable, "The image catalog is closed.") }
        if statements.count >= Self.statementCacheLimit {
            for statement in statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
            statements = [:]
        }
        var pointer: OpaquePointer?
        let rc = sqlite_nio_sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard rc == SQLITE_OK, let pointer else {
            sqlite_nio_sqlite3_finalize(pointer)
            throw failure(rc)
        }
        var names: [String] = []
        for c in 0..<sqlite_nio_sqlite3_column_count(pointer) {
            names.append(sqlite_nio_sqlite3_column_name(pointer, c).map { String(cString: $0) } ?? "")
        }
        let statement = Statement(pointer: pointer, columns: SQLColumns(names))
        statements[sql] = statement
        return statement
    }

    // SQLite's extended result codes (SQLITE_CONSTRAINT | n << 8), which Swift does not import.
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)

    /// The client-safe error for a failed call: a unique or primary-key violation is a
    /// conflict (as on PostgreSQL); a database another process keeps locked past the busy
    /// timeout is unavailable; anything else is an internal failure. SQLite's own message
    /// (which may quote SQL) goes only to the underlying error, for the log.
    private func failure(_ rc: Int32) -> GlimpseError {
        let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? ""
        let cause = SQLiteFailure(code: rc, message: message)
        switch rc {
        case Self.constraintUnique, Self.constraintPrimaryKey:
            return GlimpseError(.conflict, "The record already exists.", underlying: cause)
        case let code where code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED:
            return GlimpseError(.unavailable, "The image catalog is busy; try again.", underlying: cause)
        default:
            return GlimpseError(.internal, "The image catalog failed.", underlying: cause)
        }
    }
}

/// What SQLite said, for the log only.
struct SQLiteFailure: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "SQLite error \(code): \(message)" }
}
