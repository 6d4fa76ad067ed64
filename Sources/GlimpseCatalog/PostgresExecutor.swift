import Foundation
import GlimpseDomain
import Logging
import NIOCore
import PostgresNIO

/// PostgreSQL behind the catalog (`[database] connection = postgresql://…`): a pool of
/// connections shared by every request of this node, with a statement timeout on each, and
/// the session's time zone fixed to UTC so Glance's `timestamp without time zone` columns hold
/// UTC as SQLAlchemy writes them.
///
/// Transactions run at READ COMMITTED, as Glance's do; what must not interleave across nodes
/// takes a row lock (`SQLDialect.forUpdate`) or relies on a unique constraint, whose violation
/// comes back as `.conflict`.
public final class PostgresExecutor: SQLExecutor {
    public struct Options: Sendable {
        /// `[database] max_pool_size`: connections this node opens at most.
        public var poolSize = 10
        /// `[database] glimpse_statement_timeout`: a statement running longer is cancelled.
        public var statementTimeout: Duration = .seconds(30)
        /// Idle pooled connections are closed after this long.
        public var idleTimeout: Duration = .seconds(60)
        /// How long to wait for a connection to the server.
        public var connectTimeout: Duration = .seconds(10)
        /// Tests run each catalog in a schema of its own.
        public var searchPath: String?
        public init() {}
    }

    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger
    /// How long one catalog call may wait for a connection and run, all told: the pool keeps
    /// retrying a server that is down, so without a deadline a request would wait for ever.
    let deadline: Duration
    public var dialect: SQLDialect { .postgres }

    /// Connects to `url` (`postgresql://user:pass@host:port/db`, also `postgresql+psycopg2://`
    /// as Glance's configs spell it) and checks that the server answers.
    public static func open(url: String, options: Options = Options(), logger: Logger = Logger(label: "glimpse.postgres"))
        async throws -> PostgresExecutor
    {
        guard let parsed = ConnectionURL(url) else {
            throw GlimpseError(.internal, "[database] connection is not a valid postgresql:// URL.")
        }
        var config = PostgresClient.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password, database: parsed.database,
            tls: parsed.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        config.options.maximumConnections = max(1, options.poolSize)
        config.options.minimumConnections = 0
        config.options.connectionIdleTimeout = options.idleTimeout
        config.options.connectTimeout = options.connectTimeout
        let ms = options.statementTimeout.components.seconds * 1000 + options.statementTimeout.components.attoseconds / 1_000_000_000_000_000
        var parameters = [("TimeZone", "UTC"), ("statement_timeout", "\(ms)"), ("application_name", "glimpse")]
        if let path = options.searchPath { parameters.append(("search_path", path)) }
        config.options.additionalStartupParameters = parameters
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        let runner = Task { await client.run() }
        let executor = PostgresExecutor(
            client: client, runner: runner, logger: logger, deadline: options.statementTimeout + options.connectTimeout)
        do {
            _ = try await executor.query("SELECT 1 AS one", [])
        } catch {
            try? await executor.close()
            throw GlimpseError(.unavailable, "The image catalog's database cannot be reached.", underlying: error)
        }
        return executor
    }

    init(client: PostgresClient, runner: Task<Void, Never>, logger: Logger, deadline: Duration) {
        self.client = client
        self.runner = runner
        self.logger = logger
        self.deadline = deadline
    }

    struct DeadlineExceeded: Error {}

    /// Runs `operation`, or fails with `.unavailable` once `deadline` has passed.
    func withDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let deadline = self.deadline
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await operation() }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    throw DeadlineExceeded()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch is DeadlineExceeded {
            throw GlimpseError(.unavailable, "The image catalog's database is unavailable.", underlying: DeadlineExceeded())
        } catch {
            throw Self.translate(error)
        }
    }

    public func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        let (client, logger) = (self.client, self.logger)
        return try await withDeadline {
            try await client.withConnection { try await Self.run($0, sql, binds, logger: logger) }
        }
    }

    public func withTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLQueryable) async throws -> T) async throws -> T {
        let (client, logger) = (self.client, self.logger)
        return try await withDeadline {
            try await client.withConnection { connection in
                _ = try await Self.run(connection, "BEGIN", [], logger: logger)
                do {
                    let result = try await body(Transaction(connection: connection, logger: logger))
                    _ = try await Self.run(connection, "COMMIT", [], logger: logger)
                    return result
                } catch {
                    _ = try? await Self.run(connection, "ROLLBACK", [], logger: logger)
                    throw error
                }
            }
        }
    }

    public func close() async throws {
        runner.cancel()
        await runner.value
    }

    struct Transaction: SQLQueryable {
        let connection: PostgresConnection
        let logger: Logger
        var dialect: SQLDialect { .postgres }
        func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
            try await PostgresExecutor.run(connection, sql, binds, logger: logger)
        }
    }

    /// What clients may see of a database failure: a unique violation is a conflict, a
    /// cancelled statement or a lost connection is the catalog being unavailable; the rest is
    /// internal. The server's own text stays in `underlying`, for the log.
    static func translate(_ error: any Error) -> any Error {
        if error is GlimpseError || error is CancellationError { return error }
        guard let psql = error as? PSQLError else {
            // A decoding failure is the catalog's; anything else was thrown by the caller's own
            // transaction body and goes back to it unchanged.
            if error is PostgresDecodingError { return GlimpseError(.internal, "The image catalog failed.", underlying: error) }
            return error
        }
        if psql.code == .server, let state = psql.serverInfo?[.sqlState] {
            switch state {
            case "23505": return GlimpseError(.conflict, "The record already exists.", underlying: error)
            case "40001", "40P01": return GlimpseError(.conflict, "A concurrent change conflicted; try again.", underlying: error)
            case "57014": return GlimpseError(.unavailable, "The image catalog timed out.", underlying: error)
            case let s where s.hasPrefix("08") || s.hasPrefix("57P"):
                return GlimpseError(.unavailable, "The image catalog's database is unavailable.", underlying: error)
            default: return GlimpseError(.internal, "The image catalog failed.", underlying: error)
            }
        }
        switch psql.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed:
            return GlimpseError(.unavailable, "The image catalog's database is unavailable.", underlying: error)
        default:
            return GlimpseError(.internal, "The image catalog failed.", underlying: error)
        }
    }

    /// Runs one statement, turning the catalog's `?` placeholders into `$1, $2, …`.
    static func run(_ connection: PostgresConnection, _ sql: String, _ binds: [SQLValue], logger: Logger) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .int(let i): bindings.append(i)
            case .double(let d): bindings.append(d)
            case .text(let s): bindings.append(s)
            case .bool(let b): bindings.append(b)
            case .date(let d): bindings.append(d)
            case .null: bindings.appendNull()
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: numberPlaceholders(sql), binds: bindings), logger: logger)
        var result: [SQLRow] = []
        var columns: SQLColumns?
        for try await row in rows {
            var cells: [SQLValue] = []
            for cell in row { cells.append(decode(cell)) }
            let names = columns ?? SQLColumns(row.map(\.columnName))
            columns = names
            result.append(SQLRow(columns: names, cells: cells))
        }
        return result
    }

    static func decode(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .bool: return (try? cell.decode(Bool.self)).map(SQLValue.bool) ?? .null
        case .int2, .int4, .int8, .oid: return (try? cell.decode(Int64.self)).map(SQLValue.int) ?? .null
        case .float4, .float8: return (try? cell.decode(Double.self)).map(SQLValue.double) ?? .null
        case .timestamp, .timestamptz, .date: return (try? cell.decode(Date.self)).map(SQLValue.date) ?? .null
        default: return (try? cell.decode(String.self)).map(SQLValue.text) ?? .null
        }
    }

    /// `?` → `$n`, outside quoted literals and identifiers (byte by byte: every statement
    /// passes through here).
    static func numberPlaceholders(_ sql: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        var quote: UInt8?
        for c in sql.utf8 {
            if let q = quote {
                if c == q { quote = nil }
                out.append(c)
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                quote = c
                out.append(c)
            } else if c == UInt8(ascii: "?") {
                n += 1
                out.append(UInt8(ascii: "$"))
                out.append(contentsOf: String(n).utf8)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The parts of a `postgresql://user:pass@host:port/db?sslmode=…` URL.
    struct ConnectionURL {
        var user: String
        var password: String?
        var host: String
        var port: Int
        var database: String?
        var requireTLS: Bool

        init?(_ text: String) {
            guard let scheme = text.range(of: "://") else { return nil }
            let name = text[..<scheme.lowerBound].lowercased()
            guard name == "postgresql" || name == "postgres" || name.hasPrefix("postgresql+") else { return nil }
            guard let components = URLComponents(string: "postgresql://" + text[scheme.upperBound...]),
                let host = components.host, !host.isEmpty
            else { return nil }
            user = components.user.flatMap { $0.removingPercentEncoding } ?? "glance"
            password = components.password.flatMap { $0.removingPercentEncoding }
            self.host = host
            port = components.port ?? 5432
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            database = path.isEmpty ? nil : path
            let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
            requireTLS = ["require", "verify-ca", "verify-full"].contains(sslmode)
        }
    }
}
