import Foundation
import GlimpseDomain
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO

/// SQLite behind the catalog, in WAL mode: a pool of reader connections and one writer.
///
/// All writes in this process go through the single writer connection, one transaction at a
/// time, so they never wait on each other inside SQLite. SQLite calls run on a thread pool of
/// our own, sized so the connection holding the write lock always has a thread to finish on;
/// a lock held by another process is waited for with `busy_timeout` (sleeping, not spinning).
public final class SQLiteExecutor: SQLExecutor {
    let readers: ConnectionPool<SQLiteConnection>
    let writer: ConnectionPool<SQLiteConnection>
    let threadPool: NIOThreadPool
    static let busyTimeoutMilliseconds = 10_000
    public var dialect: SQLDialect { .sqlite }

    /// Opens `path` (created if missing) with `poolSize` reader connections plus one writer;
    /// `:memory:` gets a single connection for both.
    public static func open(path: String, poolSize: Int = 4, logger: Logger = Logger(label: "glimpse.sqlite")) async throws
        -> SQLiteExecutor
    {
        let memory = path == ":memory:"
        let readerCount = memory ? 0 : max(1, poolSize)
        let threadPool = NIOThreadPool(numberOfThreads: readerCount + 2)
        threadPool.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let storage: SQLiteConnection.Storage = memory ? .memory : .file(path: path)
        func connect() async throws -> SQLiteConnection {
            let c = try await SQLiteConnection.open(storage: storage, threadPool: threadPool, logger: logger, on: eventLoop)
            _ = try await c.query("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)", [])
            if !memory {
                _ = try await c.query("PRAGMA journal_mode = WAL", [])
                _ = try await c.query("PRAGMA synchronous = NORMAL", [])
            }
            return c
        }
        let writerPool = ConnectionPool([try await connect()])
        var readerConnections: [SQLiteConnection] = []
        for _ in 0..<readerCount { readerConnections.append(try await connect()) }
        let readerPool = memory ? writerPool : ConnectionPool(readerConnections)
        return SQLiteExecutor(readers: readerPool, writer: writerPool, threadPool: threadPool)
    }

    init(readers: ConnectionPool<SQLiteConnection>, writer: ConnectionPool<SQLiteConnection>, threadPool: NIOThreadPool) {
        self.readers = readers
        self.writer = writer
        self.threadPool = threadPool
    }

    /// Statements that change data go to the writer; everything else to a reader.
    public func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        let isRead = sql.hasPrefix("SELECT") || sql.hasPrefix("PRAGMA")
        return try await (isRead ? readers : writer).withConnection { try await Self.run($0, sql, binds) }
    }

    public func withTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLQueryable) async throws -> T) async throws -> T {
        try await writer.withConnection { connection in
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
        var all = writer.drain()
        if readers !== writer { all += readers.drain() }
        for c in all { try await c.close() }
        try await threadPool.shutdownGracefully()
    }

    struct Transaction: SQLQueryable {
        let connection: SQLiteConnection
        var dialect: SQLDialect { .sqlite }
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
