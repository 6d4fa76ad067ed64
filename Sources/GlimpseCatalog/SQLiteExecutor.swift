import Foundation
import GlimpseDomain
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO

/// SQLite behind the catalog: a small pool of connections in WAL mode. Write transactions take
/// the database lock up front (`BEGIN IMMEDIATE`) so two writers never deadlock on an upgrade.
public final class SQLiteExecutor: SQLExecutor {
    let pool: ConnectionPool<SQLiteConnection>

    /// Opens `path` (created if missing) with `poolSize` connections; `:memory:` gets one.
    public static func open(path: String, poolSize: Int = 4, logger: Logger = Logger(label: "glimpse.sqlite")) async throws
        -> SQLiteExecutor
    {
        let storage: SQLiteConnection.Storage = path == ":memory:" ? .memory : .file(path: path)
        let size = path == ":memory:" ? 1 : max(1, poolSize)
        var connections: [SQLiteConnection] = []
        for _ in 0..<size {
            let c = try await SQLiteConnection.open(storage: storage, logger: logger)
            if path != ":memory:" {
                _ = try await c.query("PRAGMA journal_mode=WAL", [])
                _ = try await c.query("PRAGMA synchronous=NORMAL", [])
            }
            connections.append(c)
        }
        return SQLiteExecutor(pool: ConnectionPool(connections))
    }

    init(pool: ConnectionPool<SQLiteConnection>) { self.pool = pool }

    public func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try await pool.withConnection { try await Self.run($0, sql, binds) }
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any SQLQueryable) async throws -> T) async throws -> T {
        try await pool.withConnection { connection in
            _ = try await Self.run(connection, "BEGIN IMMEDIATE", [])
            do {
                let result = try await body(Transaction(connection: connection))
                _ = try await Self.run(connection, "COMMIT", [])
                return result
            } catch {
                _ = try? await Self.run(connection, "ROLLBACK", [])
                throw error
            }
        }
    }

    public func close() async throws {
        for c in pool.drain() { try await c.close() }
    }

    struct Transaction: SQLQueryable {
        let connection: SQLiteConnection
        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            try await SQLiteExecutor.run(connection, sql, binds)
        }
    }

    static func run(_ connection: SQLiteConnection, _ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        let data: [SQLiteData] = binds.map {
            switch $0 {
            case .int(let i): .integer(Int(i))
            case .double(let d): .float(d)
            case .text(let s): .text(s)
            case .bool(let b): .integer(b ? 1 : 0)
            case .date(let d): .text(SQLTimestamp.format(d))
            case .null: .null
            }
        }
        let rows: [SQLiteRow]
        do {
            rows = try await connection.query(sql, data)
        } catch {
            throw GlimpseError(.internal, "The image catalog failed.", underlying: error)
        }
        return rows.map { row in
            var values: [String: SQLValue] = [:]
            for column in row.columns {
                values[column.name] =
                    switch column.data {
                    case .integer(let i): .int(Int64(i))
                    case .float(let d): .double(d)
                    case .text(let s): .text(s)
                    case .blob(let b): .text(String(buffer: b))
                    case .null: .null
                    }
            }
            return SQLRow(values: values)
        }
    }
}

/// A fixed set of connections handed out one caller at a time; callers wait in FIFO order.
final class ConnectionPool<Connection: Sendable>: Sendable {
    struct State {
        var idle: [Connection]
        var waiters: [CheckedContinuation<Connection, Never>] = []
    }
    let state: NIOLockedValueBox<State>

    init(_ connections: [Connection]) { state = NIOLockedValueBox(State(idle: connections)) }

    func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        let connection = await checkout()
        defer { checkin(connection) }
        return try await body(connection)
    }

    func checkout() async -> Connection {
        if let c = state.withLockedValue({ $0.idle.popLast() }) { return c }
        return await withCheckedContinuation { continuation in
            let ready: Connection? = state.withLockedValue { s in
                if let c = s.idle.popLast() { return c }
                s.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func checkin(_ connection: Connection) {
        let waiter: CheckedContinuation<Connection, Never>? = state.withLockedValue { s in
            if s.waiters.isEmpty {
                s.idle.append(connection)
                return nil
            }
            return s.waiters.removeFirst()
        }
        waiter?.resume(returning: connection)
    }

    func drain() -> [Connection] {
        state.withLockedValue { s in
            defer { s.idle = [] }
            return s.idle
        }
    }
}
