import Foundation
import GlimpseDomain

/// Reads `GET /v2/images` query parameters into an `ImageQuery`, with Glance's 400s (reference §1.5).
struct ImageQueryParser {
    let limitDefault: Int
    let limitMax: Int

    static let inFilterColumns: Set<String> = ["name", "id", "status", "container_format", "disk_format"]

    /// Splits a raw query string into decoded pairs, keeping order and repeats.
    static func pairs(_ query: String?) -> [(String, String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(kv[0])
            let value = kv.count > 1 ? decode(kv[1]) : ""
            return (key, value)
        }
    }

    static func decode(_ s: Substring) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }

    func parse(_ params: [(String, String)]) throws -> ImageQuery {
        var q = ImageQuery()
        q.limit = min(limitDefault, limitMax)
        var sortKeys: [String] = []
        var sortDirs: [String] = []
        var sortParam: String?
        var tags: [String] = []

        for (key, value) in params {
            switch key {
            case "limit":
                guard let n = Int(value) else { throw GlimpseError.badRequest("limit param must be an integer") }
                guard n >= 0 else { throw GlimpseError.badRequest("limit param must be positive") }
                q.limit = min(n, limitMax)
            case "marker": q.marker = value
            case "sort_key": sortKeys.append(value)
            case "sort_dir": sortDirs.append(value)
            case "sort": sortParam = value
            case "visibility":
                if value == "all" {
                    q.visibility = .all
                } else if let v = Visibility(rawValue: value) {
                    q.visibility = .only(v)
                } else {
                    throw GlimpseError.badRequest("Invalid visibility value: \(value)")
                }
            case "member_status":
                if value == "all" {
                    q.memberStatus = .all
                } else if let s = MemberStatus(rawValue: value) {
                    q.memberStatus = .only(s)
                } else {
                    throw GlimpseError.badRequest("Invalid status value: \(value)")
                }
            case "os_hidden": q.osHidden = try Self.bool(value, key)
            case "protected": q.protected = try Self.bool(value, key)
            case "tag": tags.append(value)
            case "changes-since":
                throw GlimpseError.badRequest("The 'changes-since' filter is no longer available on v2.")
            case "created_at", "updated_at":
                q.times.append(try Self.timeFilter(key, value))
            default:
                if key.hasSuffix("_min") || key.hasSuffix("_max"), ImageQuery.rangeColumns.contains(String(key.dropLast(4))) {
                    let column = String(key.dropLast(4))
                    guard let n = Int64(value), n >= 0 else {
                        throw GlimpseError.badRequest("Invalid value for \(key): it must be a non-negative integer.")
                    }
                    let i = q.ranges.firstIndex { $0.column == column } ?? { q.ranges.append((column, nil, nil)); return q.ranges.count - 1 }()
                    if key.hasSuffix("_min") { q.ranges[i].min = n } else { q.ranges[i].max = n }
                } else if ImageQuery.columnFilters.contains(key) {
                    if value.hasPrefix("in:"), Self.inFilterColumns.contains(key) {
                        q.columns[key] = try Self.inList(String(value.dropFirst(3)))
                    } else {
                        q.columns[key] = [value]
                    }
                } else {
                    q.properties[key] = value
                }
            }
        }
        q.tags = tags
        (q.sort, q.tieBreakDirection) = try parseSort(keys: sortKeys, dirs: sortDirs, sort: sortParam)
        return q
    }

    /// The sort keys with their directions, and the direction of the `created_at`/`id` keys
    /// that end the sort: Glance's API passes one direction per `sort` item, or the `sort_dir`
    /// values as given (`desc` when none), and its database layer gives the added keys that
    /// direction when there is exactly one, else `desc`.
    func parseSort(keys: [String], dirs: [String], sort: String?) throws
        -> ([(ImageQuery.SortKey, ImageQuery.SortDirection)], ImageQuery.SortDirection)
    {
        func key(_ s: String) throws -> ImageQuery.SortKey {
            guard let k = ImageQuery.SortKey(rawValue: s) else { throw GlimpseError.badRequest("Invalid sort key: \(s). It is not allowed.") }
            return k
        }
        func dir(_ s: String) throws -> ImageQuery.SortDirection {
            guard let d = ImageQuery.SortDirection(rawValue: s) else { throw GlimpseError.badRequest("Invalid sort direction: \(s)") }
            return d
        }
        if let sort {
            guard keys.isEmpty, dirs.isEmpty else {
                throw GlimpseError.badRequest("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.")
            }
            let items: [(ImageQuery.SortKey, ImageQuery.SortDirection)] = try sort.split(separator: ",").map { item in
                let parts = item.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return (try key(parts[0]), parts.count > 1 ? try dir(parts[1]) : .desc)
            }
            return (items, items.count == 1 ? items[0].1 : .desc)
        }
        let single = try dirs.count == 1 ? dir(dirs[0]) : .desc
        if keys.isEmpty {
            guard dirs.count <= 1 else { throw GlimpseError.badRequest("Number of sort dirs does not match the number of sort keys") }
            return ([(.createdAt, single)], single)
        }
        if dirs.count > 1, dirs.count != keys.count {
            throw GlimpseError.badRequest("Number of sort dirs does not match the number of sort keys")
        }
        let items = try keys.enumerated().map { i, k in
            (try key(k), try dir(dirs.count > 1 ? dirs[i] : (dirs.first ?? "desc")))
        }
        return (items, dirs.count > 1 ? .desc : single)
    }

    static func bool(_ value: String, _ key: String) throws -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw GlimpseError.badRequest("Invalid value '\(value)' for '\(key)': it must be true or false.")
        }
    }

    static func timeFilter(_ column: String, _ value: String) throws -> (column: String, op: ImageQuery.TimeOperator, date: Date) {
        var op = ImageQuery.TimeOperator.eq
        var text = value
        if let colon = value.firstIndex(of: ":"), let o = ImageQuery.TimeOperator(rawValue: String(value[..<colon])) {
            op = o
            text = String(value[value.index(after: colon)...])
        }
        guard let date = ImageJSON.parseTimestamp(text) else {
            throw GlimpseError.badRequest("Unable to filter on \(column): '\(value)' is not an ISO 8601 date and time.")
        }
        return (column, op, date)
    }

    /// `in:` values, comma separated; a value in double quotes may hold commas.
    static func inList(_ s: String) throws -> [String] {
        var values: [String] = []
        var current = ""
        var quoted = false
        var wasQuoted = false
        for c in s {
            if c == "\"" {
                quoted.toggle()
                wasQuoted = true
            } else if c == ",", !quoted {
                values.append(current)
                current = ""
                wasQuoted = false
            } else {
                current.append(c)
            }
        }
        guard !quoted else { throw GlimpseError.badRequest("Invalid filter value \(s). The quote is not closed.") }
        if !current.isEmpty || wasQuoted || s.hasSuffix(",") { values.append(current) }
        return values
    }
}
