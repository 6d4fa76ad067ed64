import Foundation
import GlimpseDomain

/// A value bound to or read from SQL. Dialect differences (booleans, timestamps, placeholders)
/// are the executor's business, so the catalog writes each query once.
public enum SQLValue: Sendable, Equatable {
    case int(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
    case date(Date)
    case null

    public static func optional(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    public static func optional(_ i: Int64?) -> SQLValue { i.map { .int($0) } ?? .null }
    public static func optional(_ d: Date?) -> SQLValue { d.map { .date($0) } ?? .null }

    public var string: String? {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        default: nil
        }
    }

    public var int: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d): Int64(d)
        case .text(let s): Int64(s)
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    public var bool: Bool {
        switch self {
        case .bool(let b): b
        case .int(let i): i != 0
        case .text(let s): s == "1" || s.lowercased() == "true" || s == "t"
        default: false
        }
    }

    /// Timestamps come back as text in SQLite (SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff`).
    public var date: Date? {
        switch self {
        case .date(let d): d
        case .text(let s): SQLTimestamp.parse(s)
        default: nil
        }
    }
}

/// One result row, read by column name. The rows of one result share their column names.
public struct SQLRow: Sendable {
    let columns: SQLColumns
    let cells: [SQLValue]

    init(columns: SQLColumns, cells: [SQLValue]) {
        self.columns = columns
        self.cells = cells
    }

    public init(values: [String: SQLValue]) {
        let names = Array(values.keys)
        self.init(columns: SQLColumns(names), cells: names.map { values[$0]! })
    }

    /// The column's value; `.null` for a column the row does not have.
    public subscript(_ column: String) -> SQLValue {
        guard let i = columns.position[column] else { return .null }
        return cells[i]
    }
}

/// The column names of a result, and where each is in a row.
final class SQLColumns: Sendable {
    let names: [String]
    let position: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var position: [String: Int] = [:]
        for (i, name) in names.enumerated() where position[name] == nil { position[name] = i }
        self.position = position
    }
}

/// Something that runs SQL: a connection inside a transaction, or the pool outside one.
public protocol SQLQueryable: Sendable {
    /// Which SQL the statements may use where SQLite and PostgreSQL differ.
    var dialect: SQLDialect { get }
    /// Runs one statement with `?` placeholders.
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
}

/// A database behind the catalog. SQLite and PostgreSQL each get a thin executor.
public protocol SQLExecutor: SQLQueryable {
    /// Runs `body` in one write transaction; rolls back if it throws.
    func withTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLQueryable) async throws -> T) async throws -> T
    func close() async throws
}

/// Where the catalog's SQL differs between SQLite and PostgreSQL.
public enum SQLDialect: Sendable {
    case sqlite, postgres

    /// Locks the selected rows until the transaction ends. SQLite needs none: its write
    /// transactions (`BEGIN IMMEDIATE`) already run one at a time.
    public var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }
    /// Locks the selected rows and passes over rows another transaction holds (task claims).
    public var forUpdateSkipLocked: String { self == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }
}

/// The timestamp text SQLAlchemy writes for Glance's DATETIME columns in SQLite.
public enum SQLTimestamp {
    static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    public static func format(_ date: Date) -> String {
        render(date, separator: UInt8(ascii: " "), fraction: true)
    }

    /// ISO 8601 to the second with `Z` (`2026-12-04T15:32:06Z`), as Glance prints timestamps.
    public static func iso8601Seconds(_ date: Date) -> String {
        render(date, separator: UInt8(ascii: "T"), fraction: false)
    }

    /// `YYYY-MM-DD?HH:MM:SS` followed by `.ffffff` or by `Z`, written digit by digit.
    static func render(_ date: Date, separator: UInt8, fraction: Bool) -> String {
        let t = date.timeIntervalSince1970
        var seconds = Int64(t.rounded(.down))
        var micros = Int64(((t - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 { seconds += 1; micros -= 1_000_000 }
        let (days, secOfDay) = seconds.quotientAndRemainder(dividingBy: 86400)
        let (y, m, d) = civil(fromDays: secOfDay < 0 ? days - 1 : days)
        let s = secOfDay < 0 ? secOfDay + 86400 : secOfDay
        return String(unsafeUninitializedCapacity: 26) { out in
            var i = 0
            func put(_ value: Int64, _ width: Int) {
                var v = value
                for k in stride(from: width - 1, through: 0, by: -1) {
                    out[i + k] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                i += width
            }
            func put(_ byte: UInt8) {
                out[i] = byte
                i += 1
            }
            put(Int64(y), 4); put(UInt8(ascii: "-")); put(Int64(m), 2); put(UInt8(ascii: "-")); put(Int64(d), 2)
            put(separator)
            put(s / 3600, 2); put(UInt8(ascii: ":")); put((s % 3600) / 60, 2); put(UInt8(ascii: ":")); put(s % 60, 2)
            if fraction {
                put(UInt8(ascii: ".")); put(micros, 6)
            } else {
                put(UInt8(ascii: "Z"))
            }
            return i
        }
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (also with `T`), as UTC.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 19 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            var v = 0
            for i in from..<(from + len) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
            let s = num(17, 2)
        else { return nil }
        var micros = 0.0
        if b.count > 20, b[19] == UInt8(ascii: ".") {
            var digits = 0
            var v = 0
            var i = 20
            while i < b.count, b[i] >= 48, b[i] <= 57, digits < 6 { v = v * 10 + Int(b[i] - 48); digits += 1; i += 1 }
            micros = Double(v) * pow(10, Double(6 - digits))
        }
        let days = daysFromCivil(y, mo, d)
        let secs = Double(days * 86400 + h * 3600 + mi * 60 + s) + micros / 1_000_000
        return Date(timeIntervalSince1970: secs)
    }

    // Howard Hinnant's civil-date algorithms: exact and allocation-free.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = Int(z0) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
