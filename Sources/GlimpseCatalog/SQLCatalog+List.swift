import Foundation
import GlimpseDomain

extension SQLCatalog {
    /// The sort expression for a key: nullable columns are coalesced so that keyset paging over
    /// NULLs stays total (NULL sorts first ascending, as SQLite and Glance's MySQL do; see
    /// `sortTerms` for PostgreSQL).
    static func sortExpression(_ key: ImageQuery.SortKey) -> String {
        switch key {
        case .name: "COALESCE(images.name, '')"
        case .size: "COALESCE(images.size, -1)"
        case .containerFormat: "COALESCE(images.container_format, '')"
        case .diskFormat: "COALESCE(images.disk_format, '')"
        case .updatedAt: "COALESCE(images.updated_at, images.created_at)"
        case .status: "images.status"
        case .id: "images.id"
        case .createdAt: "images.created_at"
        }
    }

    static func sortValue(_ key: ImageQuery.SortKey, of image: Image) -> SQLValue {
        switch key {
        case .name: .text(image.name ?? "")
        case .size: .int(image.size ?? -1)
        case .containerFormat: .text(image.containerFormat ?? "")
        case .diskFormat: .text(image.diskFormat ?? "")
        case .updatedAt: .date(image.updatedAt)
        case .status: .text(image.status.rawValue)
        case .id: .text(image.id)
        case .createdAt: .date(image.createdAt)
        }
    }

    /// Whether a nullable sort key's column is NULL: the expression and its value for an image.
    static func nullTerm(_ key: ImageQuery.SortKey) -> (String, (Image) -> Bool)? {
        switch key {
        case .name: ("(images.name IS NULL)", { $0.name == nil })
        case .size: ("(images.size IS NULL)", { $0.size == nil })
        case .containerFormat: ("(images.container_format IS NULL)", { $0.containerFormat == nil })
        case .diskFormat: ("(images.disk_format IS NULL)", { $0.diskFormat == nil })
        case .updatedAt, .status, .id, .createdAt: nil
        }
    }

    /// The ORDER BY terms of a sort: expression, ascending or not, its value for an image (the
    /// marker). In PostgreSQL, where Glance's NULLs sort above every value (last ascending,
    /// first descending), an `IS NULL` term goes ahead of each nullable key's coalesced one.
    static func sortTerms(_ sort: [(ImageQuery.SortKey, ImageQuery.SortDirection)], _ dialect: SQLDialect)
        -> [(expression: String, ascending: Bool, value: (Image) -> SQLValue)]
    {
        var terms: [(expression: String, ascending: Bool, value: (Image) -> SQLValue)] = []
        for (key, direction) in sort {
            if dialect == .postgres, let (expression, isNull) = nullTerm(key) {
                terms.append((expression, direction == .asc, { .bool(isNull($0)) }))
            }
            terms.append((sortExpression(key), direction == .asc, { sortValue(key, of: $0) }))
        }
        return terms
    }

    public func listImages(_ query: ImageQuery, for principal: Principal) async throws -> [Image] {
        let (sql, binds) = try await listStatement(query, for: principal)
        var images = try await db.query(sql, binds).compactMap(Self.decodeImage)
        try await loadChildren(db, into: &images, withLocations: true)
        return images
    }

    /// The one SELECT a list page runs (tests ask the database how it would run it).
    public func listStatement(_ query: ImageQuery, for principal: Principal) async throws -> (String, [SQLValue]) {
        var conditions = ["images.deleted = ?"]
        var binds: [SQLValue] = [.bool(false)]
        addVisibility(query, principal, &conditions, &binds)

        if query.excludePublic {
            conditions.append("images.visibility <> 'public'")
        }
        if let hidden = query.osHidden {
            conditions.append("images.os_hidden = ?")
            binds.append(.bool(hidden))
        }
        if let protected = query.protected {
            conditions.append("images.protected = ?")
            binds.append(.bool(protected))
        }
        for (column, values) in query.columns.sorted(by: { $0.key < $1.key }) where ImageQuery.columnFilters.contains(column) {
            let marks = Array(repeating: "?", count: values.count).joined(separator: ", ")
            conditions.append("images.\(column) IN (\(marks))")
            binds += values.map { ImageQuery.rangeColumns.contains(column) ? (Int64($0).map(SQLValue.int) ?? .text($0)) : .text($0) }
        }
        for t in query.times {
            guard t.column == "created_at" || t.column == "updated_at" else { continue }
            let op = switch t.op {
            case .gt: ">"
            case .gte: ">="
            case .eq: "="
            case .neq: "<>"
            case .lt: "<"
            case .lte: "<="
            }
            conditions.append("images.\(t.column) \(op) ?")
            binds.append(.date(t.date))
        }
        for r in query.ranges where ImageQuery.rangeColumns.contains(r.column) {
            if let min = r.min {
                conditions.append("images.\(r.column) >= ?")
                binds.append(.int(min))
            }
            if let max = r.max {
                conditions.append("images.\(r.column) <= ?")
                binds.append(.int(max))
            }
        }
        for tag in query.tags {
            conditions.append("EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id AND t.value = ? AND t.deleted = ?)")
            binds += [.text(tag), .bool(false)]
        }
        for (name, value) in query.properties.sorted(by: { $0.key < $1.key }) {
            conditions.append(
                "EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = images.id AND p.name = ? AND p.value = ? AND p.deleted = ?)")
            binds += [.text(name), .text(value), .bool(false)]
        }

        // created_at and id always end the sort, so every page boundary is unique.
        var sort = query.sort
        if !sort.contains(where: { $0.0 == .createdAt }) { sort.append((.createdAt, query.tieBreakDirection)) }
        if !sort.contains(where: { $0.0 == .id }) { sort.append((.id, query.tieBreakDirection)) }
        let terms = Self.sortTerms(sort, db.dialect)

        if let markerID = query.marker {
            guard let marker = try await image(id: markerID) else {
                throw GlimpseError.badRequest("Invalid marker. Image \(markerID) could not be found.")
            }
            // (k1, k2, …) after the marker, each key in its own direction.
            var alternatives: [String] = []
            var alternativeBinds: [SQLValue] = []
            for i in terms.indices {
                var parts: [String] = []
                for j in 0..<i {
                    parts.append("\(terms[j].expression) = ?")
                    alternativeBinds.append(terms[j].value(marker))
                }
                parts.append("\(terms[i].expression) \(terms[i].ascending ? ">" : "<") ?")
                alternativeBinds.append(terms[i].value(marker))
                alternatives.append("(" + parts.joined(separator: " AND ") + ")")
            }
            conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
            binds += alternativeBinds
        }

        let order = terms.map { "\($0.expression) \($0.ascending ? "ASC" : "DESC")" }.joined(separator: ", ")
        let sql =
            "SELECT \(Self.imageColumns) FROM images WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?"
        binds.append(.int(Int64(query.limit)))
        return (sql, binds)
    }

    /// Who sees what (reference §1.5 "Default visibility set for a non-admin").
    func addVisibility(_ query: ImageQuery, _ principal: Principal, _ conditions: inout [String], _ binds: inout [SQLValue]) {
        let memberClause: (String, [SQLValue]) = {
            var sql = "images.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = images.id AND m.member = ? AND m.deleted = ?"
            var b: [SQLValue] = [.text(principal.projectID ?? ""), .bool(false)]
            if case .only(let status) = query.memberStatus {
                sql += " AND m.status = ?"
                b.append(.text(status.rawValue))
            }
            return (sql + ")", b)
        }()
        let owner = SQLValue.text(principal.projectID ?? "")

        switch query.visibility {
        case .none:
            if principal.isAdmin { return }
            conditions.append("(images.visibility = 'public' OR images.owner = ? OR (\(memberClause.0)))")
            binds += [owner] + memberClause.1
        case .all:
            if principal.isAdmin { return }
            conditions.append(
                "(images.visibility IN ('public', 'community') OR images.owner = ? OR (\(memberClause.0)))")
            binds += [owner] + memberClause.1
        case .only(let v):
            conditions.append("images.visibility = \(Self.visibilitySQL(v))")
            if principal.isAdmin { return }
            switch v {
            case .public, .community: break
            case .private:
                conditions.append("images.owner = ?")
                binds.append(owner)
            case .shared:
                conditions.append("(images.owner = ? OR (\(memberClause.0)))")
                binds += [owner] + memberClause.1
            }
        }
    }
}
