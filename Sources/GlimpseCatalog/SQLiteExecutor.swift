import Foundation
import GlimpseDomain
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// SQLite behind the catalog, in WAL mode: a pool of reader connections and one writer.
///
/// Reads run on the caller's thread: in WAL mode a reader never waits for a lock, and what it
/// costs is CPU that a thread of our own would take from the same cores, plus two thread
/// switches per statement (most of a point read's cost). Writes go through the single writer
/// connection, one transaction at a time; what may wait for a lock another process holds (up
/// to `busy_timeout`, sleeping) or for the disk (`BEGIN IMMEDIATE`, `COMMIT` with its
/// checkpoints, a statement outside a transaction) runs on a thread of its own, so that it
/// never holds a thread of Swift's cooperative pool. Every connection keeps its statements
/// prepared.
public final class SQLiteExecutor: SQLExecutor {
    let readers: ConnectionPool<SQLiteConnection>
    let writer: ConnectionPool<SQLiteConnection>
    /// The writer's thread.
    let writerThread: NIOThreadPool
    /// `:memory:`: one connection serves reads and writes.
    let shared: Bool
    /// Writes committed since the planner's statistics were last checked (`refreshStatistics`).
    let writesSinceStatistics = NIOLockedValueBox(0)
    static let writesBetweenStatistics = 1000
    static let busyTimeoutMilliseconds: Int32 = 10_000
    public var dialect: SQLDialect { .sqlite }

    /// Opens `path` (created if missing) with `poolSize` reader connections plus one writer;
    /// `:memory:` gets a single connection for both.
    public static func open(path: String, poolSize: Int = 4, logger: Logger = Logger(label: "glimpse.sqlite")) async throws
        -> SQLiteExecutor
    {
        let memory = path == ":memory:"
        let writerThread = NIOThreadPool(numberOfThreads: 1)
        writerThread.start()
        @Sendable func connect() throws -> SQLiteConnection {
            let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            if !memory {
                _ = try c.execute("PRAGMA journal_mode = WAL", [])
                _ = try c.execute("PRAGMA synchronous = NORMAL", [])
            }
            return c
        }
        do {
            // The first connection switches the file to WAL, which takes its write lock: on
            // the writer's thread, like every other wait for a lock.
            let writerConnection = try await writerThread.runIfActive { try connect() }
            var readerConnections: [SQLiteConnection] = []
            if !memory {
                for _ in 0..<max(1, poolSize) { readerConnections.append(try await writerThread.runIfActive { try connect() }) }
            }
            let writerPool = ConnectionPool([writerConnection])
            let readerPool = memory ? writerPool : ConnectionPool(readerConnections)
            let executor = SQLiteExecutor(readers: readerPool, writer: writerPool, writerThread: writerThread, shared: memory)
            if !memory { await executor.refreshStatistics(writerConnection) }
            return executor
        } catch {
            try? await writerThread.shutdownGracefully()
            throw error
        }
    }

    init(readers: ConnectionPool<SQLiteConnection>, writer: ConnectionPool<SQLiteConnection>, writerThread: NIOThreadPool, shared: Bool) {
        self.readers = readers
        self.writer = writer
        self.writerThread = writerThread
        self.shared = shared
    }

    /// Reads run here on a reader; statements that change data run on the writer's thread.
    public func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        if Self.isRead(sql) {
            return try await readers.withConnection { try $0.execute(sql, binds) }
        }
        return try await writer.withConnection { connection in
            let rows = try await self.onWriterThread(connection, sql, binds)
            await self.wrote(connection)
            return rows
        }
    }

    /// Counts a committed write; every `writesBetweenStatistics` of them the statistics are
    /// checked.
    func wrote(_ connection: SQLiteConnection) async {
        guard !shared else { return }
        let due = writesSinceStatistics.withLockedValue { n in
            n += 1
            if n < Self.writesBetweenStatistics { return false }
            n = 0
            return true
        }
        if due { await refreshStatistics(connection) }
    }

    /// `PRAGMA optimize`: analyzes (a sample of at most 1000 rows per index) every table whose
    /// size changed tenfold since its last analysis or that was never analyzed. Without
    /// statistics SQLite's planner takes every equality for equally selective, and picks Glance's
    /// single-column `deleted` indexes (one value for nearly every row) over `image_id` ones.
    /// The writer holds the connection; other connections load the new statistics by
    /// themselves. A failure only leaves the old statistics.
    func refreshStatistics(_ connection: SQLiteConnection) async {
        _ = try? await onWriterThread(connection, "PRAGMA analysis_limit = 1000", [])
        _ = try? await onWriterThread(connection, "PRAGMA optimize = 0x10002", [])
    }

    static func isRead(_ sql: String) -> Bool {
        sql.hasPrefix("SELECT") || sql.hasPrefix("PRAGMA") || sql.hasPrefix("EXPLAIN")
    }

    func onWriterThread(_ connection: SQLiteConnection, _ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        do {
            return try await writerThread.runIfActive { try connection.execute(sql, binds) }
        } catch let error as GlimpseError {
            throw error
        } catch {
            throw GlimpseError(.unavailable, "The image catalog is closed.", underlying: error)
        }
    }

    public func withTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLQueryable) async throws -> T) async throws -> T {
        try await writer.withConnection { connection in
            _ = try await self.onWriterThread(connection, "BEGIN IMMEDIATE", [])
            do {
                let result = try await body(Transaction(executor: self, connection: connection))
                _ = try await self.onWriterThread(connection, "COMMIT", [])
                await self.wrote(connection)
                return result
            } catch {
                _ = try? await self.onWriterThread(connection, "ROLLBACK", [])
                throw error
            }
        }
    }

    public func close() async throws {
        let all = writer.drain() + (shared ? [] : readers.drain())
        try? await writerThread.runIfActive { for c in all { c.close() } }
        try await writerThread.shutdownGracefully()
    }

    /// Inside a transaction statements run here: once `BEGIN IMMEDIATE` (on the writer's
    /// thread) holds the write lock nothing waits for a lock, and changes stay in the
    /// connection's cache until `COMMIT`, which writes (and may checkpoint) on the writer's
    /// thread.
    struct Transaction: SQLQueryable {
        let executor: SQLiteExecutor
        let connection: SQLiteConnection
        var dialect: SQLDialect { .sqlite }
        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            try connection.execute(sql, binds)
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
