import Foundation
import GlimpseDomain

/// The metadefs catalog on Glance's `metadef_*` tables. JSON columns hold what SQLAlchemy's
/// `JSONEncodedDict` writes (`json.dumps`), `metadef_objects.required` a comma-separated list.
extension SQLCatalog: MetadefCatalog {
    static let namespaceColumns = "id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at"

    // MARK: namespaces

    public func namespace(named name: String) async throws -> MetadefNamespace? {
        try await Self.namespace(named: name, db)
    }

    static func namespace(named name: String, _ q: any SQLQueryable) async throws -> MetadefNamespace? {
        try await q.query("SELECT \(namespaceColumns) FROM metadef_namespaces WHERE namespace = ?", [.text(name)])
            .compactMap(decodeNamespace).first
    }

    static func decodeNamespace(_ row: SQLRow) -> MetadefNamespace? {
        guard let id = row["id"].int, let name = row["namespace"].string, let created = row["created_at"].date else { return nil }
        return MetadefNamespace(
            id: id, namespace: name, displayName: row["display_name"].string, description: row["description"].string,
            visibility: row["visibility"].string ?? "private", protected: row["protected"].bool, owner: row["owner"].string ?? "",
            createdAt: created, updatedAt: row["updated_at"].date)
    }

    /// The sort expression for a namespace column; nullable columns are coalesced so keyset
    /// paging over NULLs stays total.
    static func namespaceSortExpression(_ key: String) -> String {
        switch key {
        case "id": "id"
        case "protected": "COALESCE(protected, 0)"
        case "updated_at": "COALESCE(updated_at, created_at)"
        case "created_at", "namespace", "owner": key
        default: "COALESCE(\(key), '')"
        }
    }

    static func namespaceSortValue(_ key: String, _ ns: MetadefNamespace) -> SQLValue {
        switch key {
        case "id": .int(ns.id ?? 0)
        case "namespace": .text(ns.namespace)
        case "display_name": .text(ns.displayName ?? "")
        case "description": .text(ns.description ?? "")
        case "visibility": .text(ns.visibility)
        case "protected": .int(ns.protected ? 1 : 0)
        case "owner": .text(ns.owner)
        case "updated_at": .date(ns.updatedAt ?? ns.createdAt)
        default: .date(ns.createdAt)
        }
    }

    public func listNamespaces(_ query: MetadefQuery, after marker: MetadefNamespace?, project: String?, includeAll: Bool)
        async throws -> [MetadefNamespace]
    {
        var conditions: [String] = []
        var binds: [SQLValue] = []
        if !includeAll {
            if let project {
                conditions.append("(owner = ? OR visibility = 'public')")
                binds.append(.text(project))
            } else {
                conditions.append("visibility = 'public'")
            }
        }
        if let visibility = query.visibility {
            conditions.append("visibility = ?")
            binds.append(.text(visibility))
        }
        if let types = query.resourceTypes {
            guard !types.isEmpty else { return [] }
            let marks = Array(repeating: "?", count: types.count).joined(separator: ", ")
            conditions.append(
                "id IN (SELECT a.namespace_id FROM metadef_namespace_resource_types a JOIN metadef_resource_types r ON r.id = a.resource_type_id WHERE r.name IN (\(marks)))"
            )
            binds += types.map { .text($0) }
        }
        let keys = Self.sortKeys(query.sortKey)
        if let marker {
            Self.addKeyset(keys.map { (Self.namespaceSortExpression($0), Self.namespaceSortValue($0, marker)) }, query.sortDir,
                           &conditions, &binds)
        }
        let order = keys.map { "\(Self.namespaceSortExpression($0)) \(query.sortDir == .asc ? "ASC" : "DESC")" }
        var sql = "SELECT \(Self.namespaceColumns) FROM metadef_namespaces"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY " + order.joined(separator: ", ")
        if let limit = query.limit {
            sql += " LIMIT ?"
            binds.append(.int(Int64(limit)))
        }
        return try await db.query(sql, binds).compactMap(Self.decodeNamespace)
    }

    /// oslo.db's `paginate_query` keys: the requested one, then `created_at` and `id`.
    static func sortKeys(_ key: String) -> [String] {
        var keys = ["created_at", "id"]
        if !keys.contains(key) { keys.insert(key, at: 0) }
        return keys
    }

    /// `(k1, k2, …)` strictly after the marker's values, every key in `direction`.
    static func addKeyset(_ keys: [(String, SQLValue)], _ direction: MetadefQuery.SortDirection, _ conditions: inout [String],
                          _ binds: inout [SQLValue]) {
        var alternatives: [String] = []
        for i in keys.indices {
            var parts: [String] = []
            for j in 0..<i {
                parts.append("\(keys[j].0) = ?")
                binds.append(keys[j].1)
            }
            parts.append("\(keys[i].0) \(direction == .asc ? ">" : "<") ?")
            binds.append(keys[i].1)
            alternatives.append("(" + parts.joined(separator: " AND ") + ")")
        }
        conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
    }

    public func createNamespace(_ namespace: MetadefNamespace, contents: MetadefNamespaceContents, protectNewResourceTypes: Bool)
        async throws -> MetadefNamespace
    {
        try await db.withTransaction { tx in
            guard try await Self.namespace(named: namespace.namespace, tx) == nil else {
                throw GlimpseError.conflict("The metadata definition namespace=\(namespace.namespace) already exists.")
            }
            let rows = try await tx.query(
                "INSERT INTO metadef_namespaces (namespace, display_name, description, visibility, protected, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [.text(namespace.namespace), .optional(namespace.displayName), .optional(namespace.description),
                 .text(namespace.visibility), .bool(namespace.protected), .text(namespace.owner), .date(namespace.createdAt),
                 .optional(namespace.updatedAt)])
            var stored = namespace
            stored.id = rows.first?["id"].int
            for association in contents.associations {
                _ = try await Self.insertAssociation(association, in: stored, protectNewType: protectNewResourceTypes, tx)
            }
            for object in contents.objects { _ = try await Self.insertObject(object, in: stored, tx) }
            for tag in contents.tags {
                _ = try await Self.insertTag(MetadefTag(name: tag, createdAt: namespace.createdAt, updatedAt: namespace.updatedAt),
                                             in: stored, tx)
            }
            for (name, schema) in contents.properties {
                _ = try await Self.insertProperty(
                    MetadefProperty(name: name, schema: schema, createdAt: namespace.createdAt, updatedAt: namespace.updatedAt), in: stored, tx)
            }
            return stored
        }
    }

    public func updateNamespace(_ namespace: MetadefNamespace) async throws -> MetadefNamespace {
        try await db.withTransaction { tx in
            let clash = try await tx.query(
                "SELECT id FROM metadef_namespaces WHERE namespace = ? AND id <> ?", [.text(namespace.namespace), .int(namespace.id ?? 0)])
            guard clash.isEmpty else {
                throw GlimpseError.conflict(
                    "Invalid update. It would result in a duplicate metadata definition namespace with the same name of \(namespace.namespace)")
            }
            let changed = try await tx.query(
                "UPDATE metadef_namespaces SET namespace = ?, display_name = ?, description = ?, visibility = ?, protected = ?, owner = ?, updated_at = ? WHERE id = ? RETURNING id",
                [.text(namespace.namespace), .optional(namespace.displayName), .optional(namespace.description),
                 .text(namespace.visibility), .bool(namespace.protected), .text(namespace.owner), .optional(namespace.updatedAt),
                 .int(namespace.id ?? 0)])
            guard !changed.isEmpty else { throw Self.namespaceGone(namespace) }
            return namespace
        }
    }

    public func deleteNamespace(_ namespace: MetadefNamespace) async throws {
        try await db.withTransaction { tx in
            let id = SQLValue.int(namespace.id ?? 0)
            for table in ["metadef_tags", "metadef_objects", "metadef_properties", "metadef_namespace_resource_types"] {
                _ = try await tx.query("DELETE FROM \(table) WHERE namespace_id = ?", [id])
            }
            guard !(try await tx.query("DELETE FROM metadef_namespaces WHERE id = ? RETURNING id", [id])).isEmpty else {
                throw Self.namespaceGone(namespace)
            }
        }
    }

    public func deleteObjects(in namespace: MetadefNamespace) async throws {
        _ = try await db.withTransaction { tx in
            try await tx.query("DELETE FROM metadef_objects WHERE namespace_id = ?", [.int(namespace.id ?? 0)])
        }
    }

    public func deleteProperties(in namespace: MetadefNamespace) async throws {
        _ = try await db.withTransaction { tx in
            try await tx.query("DELETE FROM metadef_properties WHERE namespace_id = ?", [.int(namespace.id ?? 0)])
        }
    }

    public func deleteTags(in namespace: MetadefNamespace) async throws {
        _ = try await db.withTransaction { tx in
            try await tx.query("DELETE FROM metadef_tags WHERE namespace_id = ?", [.int(namespace.id ?? 0)])
        }
    }

    static func namespaceGone(_ namespace: MetadefNamespace) -> GlimpseError {
        .notFound("Metadata definition namespace=\(namespace.namespace) was not found.")
    }

    // MARK: objects

    static let objectColumns = "name, description, required, json_schema, created_at, updated_at"

    static func decodeObject(_ row: SQLRow) -> MetadefObject? {
        guard let name = row["name"].string, let created = row["created_at"].date else { return nil }
        let required = row["required"].string.flatMap { $0.isEmpty ? nil : $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return MetadefObject(
            name: name, description: row["description"].string, required: required,
            properties: jsonObject(row["json_schema"].string), createdAt: created, updatedAt: row["updated_at"].date)
    }

    /// A JSON column's object (SQLAlchemy's `JSONEncodedDict`); `null` or garbage reads as empty.
    static func jsonObject(_ text: String?) -> JSONObject {
        guard let text, let value = try? JSONValue.parse(Array(text.utf8)) else { return JSONObject() }
        return value.objectValue ?? JSONObject()
    }

    public func objects(in namespace: MetadefNamespace) async throws -> [MetadefObject] {
        try await db.query("SELECT \(Self.objectColumns) FROM metadef_objects WHERE namespace_id = ? ORDER BY name",
                           [.int(namespace.id ?? 0)]).compactMap(Self.decodeObject)
    }

    public func object(named name: String, in namespace: MetadefNamespace) async throws -> MetadefObject? {
        try await Self.object(named: name, namespace, db)
    }

    static func object(named name: String, _ namespace: MetadefNamespace, _ q: any SQLQueryable) async throws -> MetadefObject? {
        try await q.query("SELECT \(objectColumns) FROM metadef_objects WHERE namespace_id = ? AND name = ?",
                          [.int(namespace.id ?? 0), .text(name)]).compactMap(decodeObject).first
    }

    static func objectBinds(_ object: MetadefObject) -> [SQLValue] {
        [.text(object.name), .optional(object.description), .optional(object.required.map { $0.joined(separator: ",") }),
         .text(JSONValue.object(object.properties).serialized())]
    }

    static func insertObject(_ object: MetadefObject, in namespace: MetadefNamespace, _ tx: any SQLQueryable) async throws
        -> MetadefObject
    {
        guard try await Self.object(named: object.name, namespace, tx) == nil else {
            throw GlimpseError.conflict(
                "A metadata definition object with name=\(object.name) already exists in namespace=\(namespace.namespace).")
        }
        _ = try await tx.query(
            "INSERT INTO metadef_objects (name, description, required, json_schema, namespace_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            objectBinds(object) + [.int(namespace.id ?? 0), .date(object.createdAt), .optional(object.updatedAt)])
        return object
    }

    public func createObject(_ object: MetadefObject, in namespace: MetadefNamespace) async throws -> MetadefObject {
        try await db.withTransaction { tx in try await Self.insertObject(object, in: namespace, tx) }
    }

    public func updateObject(named name: String, to object: MetadefObject, in namespace: MetadefNamespace) async throws
        -> MetadefObject
    {
        try await db.withTransaction { tx in
            if object.name != name, try await Self.object(named: object.name, namespace, tx) != nil {
                throw GlimpseError.conflict(
                    "Invalid update. It would result in a duplicate metadata definition object with the same name=\(object.name) in namespace=\(namespace.namespace).")
            }
            let changed = try await tx.query(
                "UPDATE metadef_objects SET name = ?, description = ?, required = ?, json_schema = ?, updated_at = ? WHERE namespace_id = ? AND name = ? RETURNING id",
                Self.objectBinds(object) + [.optional(object.updatedAt), .int(namespace.id ?? 0), .text(name)])
            guard !changed.isEmpty else { throw GlimpseError.notFound("Could not find metadata object \(name)") }
            return object
        }
    }

    public func deleteObject(named name: String, in namespace: MetadefNamespace) async throws {
        try await deleteChild("metadef_objects", name: name, namespace, notFound: "Could not find metadata object \(name)")
    }

    func deleteChild(_ table: String, name: String, _ namespace: MetadefNamespace, notFound: String) async throws {
        try await db.withTransaction { tx in
            let deleted = try await tx.query(
                "DELETE FROM \(table) WHERE namespace_id = ? AND name = ? RETURNING id", [.int(namespace.id ?? 0), .text(name)])
            guard !deleted.isEmpty else { throw GlimpseError.notFound(notFound) }
        }
    }

    // MARK: properties

    static func decodeProperty(_ row: SQLRow) -> MetadefProperty? {
        guard let name = row["name"].string, let created = row["created_at"].date else { return nil }
        return MetadefProperty(name: name, schema: jsonObject(row["json_schema"].string), createdAt: created,
                               updatedAt: row["updated_at"].date)
    }

    public func properties(in namespace: MetadefNamespace) async throws -> [MetadefProperty] {
        try await db.query("SELECT name, json_schema, created_at, updated_at FROM metadef_properties WHERE namespace_id = ? ORDER BY name",
                           [.int(namespace.id ?? 0)]).compactMap(Self.decodeProperty)
    }

    public func property(named name: String, in namespace: MetadefNamespace) async throws -> MetadefProperty? {
        try await Self.property(named: name, namespace, db)
    }

    static func property(named name: String, _ namespace: MetadefNamespace, _ q: any SQLQueryable) async throws -> MetadefProperty? {
        try await q.query(
            "SELECT name, json_schema, created_at, updated_at FROM metadef_properties WHERE namespace_id = ? AND name = ?",
            [.int(namespace.id ?? 0), .text(name)]
        ).compactMap(decodeProperty).first
    }

    static func insertProperty(_ property: MetadefProperty, in namespace: MetadefNamespace, _ tx: any SQLQueryable) async throws
        -> MetadefProperty
    {
        guard try await Self.property(named: property.name, namespace, tx) == nil else {
            throw GlimpseError.conflict(
                "A metadata definition property with name=\(property.name) already exists in namespace=\(namespace.namespace).")
        }
        _ = try await tx.query(
            "INSERT INTO metadef_properties (name, json_schema, namespace_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            [.text(property.name), .text(JSONValue.object(property.schema).serialized()), .int(namespace.id ?? 0),
             .date(property.createdAt), .optional(property.updatedAt)])
        return property
    }

    public func createProperty(_ property: MetadefProperty, in namespace: MetadefNamespace) async throws -> MetadefProperty {
        try await db.withTransaction { tx in try await Self.insertProperty(property, in: namespace, tx) }
    }

    public func updateProperty(named name: String, to property: MetadefProperty, in namespace: MetadefNamespace) async throws
        -> MetadefProperty
    {
        try await db.withTransaction { tx in
            if property.name != name, try await Self.property(named: property.name, namespace, tx) != nil {
                throw GlimpseError.conflict(
                    "Invalid update. It would result in a duplicate metadata definition property with the same name=\(property.name) in namespace=\(namespace.namespace).")
            }
            let changed = try await tx.query(
                "UPDATE metadef_properties SET name = ?, json_schema = ?, updated_at = ? WHERE namespace_id = ? AND name = ? RETURNING id",
                [.text(property.name), .text(JSONValue.object(property.schema).serialized()), .optional(property.updatedAt),
                 .int(namespace.id ?? 0), .text(name)])
            guard !changed.isEmpty else { throw GlimpseError.notFound("Could not find property \(name)") }
            return property
        }
    }

    public func deleteProperty(named name: String, in namespace: MetadefNamespace) async throws {
        try await deleteChild("metadef_properties", name: name, namespace, notFound: "Could not find property \(name)")
    }

    // MARK: tags

    static func decodeTag(_ row: SQLRow) -> MetadefTag? {
        guard let name = row["name"].string, let created = row["created_at"].date else { return nil }
        return MetadefTag(name: name, createdAt: created, updatedAt: row["updated_at"].date)
    }

    public func tags(in namespace: MetadefNamespace, query: MetadefQuery, after marker: MetadefTag?) async throws -> [MetadefTag] {
        var conditions = ["namespace_id = ?"]
        var binds: [SQLValue] = [.int(namespace.id ?? 0)]
        let keys = Self.sortKeys(query.sortKey)
        func expression(_ key: String) -> String {
            key == "updated_at" ? "COALESCE(updated_at, created_at)" : key
        }
        if let marker {
            let markerID = try await db.query(
                "SELECT id FROM metadef_tags WHERE namespace_id = ? AND name = ?", [.int(namespace.id ?? 0), .text(marker.name)]
            ).first?["id"].int ?? 0
            let values: [(String, SQLValue)] = keys.map { key in
                switch key {
                case "id": (expression(key), .int(markerID))
                case "name": (expression(key), .text(marker.name))
                case "updated_at": (expression(key), .date(marker.updatedAt ?? marker.createdAt))
                default: (expression(key), .date(marker.createdAt))
                }
            }
            Self.addKeyset(values, query.sortDir, &conditions, &binds)
        }
        let order = keys.map { "\(expression($0)) \(query.sortDir == .asc ? "ASC" : "DESC")" }.joined(separator: ", ")
        var sql = "SELECT name, created_at, updated_at FROM metadef_tags WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order)"
        if let limit = query.limit {
            sql += " LIMIT ?"
            binds.append(.int(Int64(limit)))
        }
        return try await db.query(sql, binds).compactMap(Self.decodeTag)
    }

    public func tag(named name: String, in namespace: MetadefNamespace) async throws -> MetadefTag? {
        try await Self.tag(named: name, namespace, db)
    }

    static func tag(named name: String, _ namespace: MetadefNamespace, _ q: any SQLQueryable) async throws -> MetadefTag? {
        try await q.query("SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace_id = ? AND name = ?",
                          [.int(namespace.id ?? 0), .text(name)]).compactMap(decodeTag).first
    }

    static func duplicateTag(_ name: String, _ namespace: MetadefNamespace) -> GlimpseError {
        .conflict("A metadata tag with name=\(name) already exists in namespace=\(namespace.namespace). (Please note that metadata tag names are case insensitive).")
    }

    static func insertTag(_ tag: MetadefTag, in namespace: MetadefNamespace, _ tx: any SQLQueryable) async throws -> MetadefTag {
        guard try await Self.tag(named: tag.name, namespace, tx) == nil else { throw duplicateTag(tag.name, namespace) }
        _ = try await tx.query(
            "INSERT INTO metadef_tags (name, namespace_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [.text(tag.name), .int(namespace.id ?? 0), .date(tag.createdAt), .optional(tag.updatedAt)])
        return tag
    }

    public func createTag(_ tag: MetadefTag, in namespace: MetadefNamespace) async throws -> MetadefTag {
        try await db.withTransaction { tx in try await Self.insertTag(tag, in: namespace, tx) }
    }

    public func createTags(_ tags: [MetadefTag], in namespace: MetadefNamespace, append: Bool) async throws -> [MetadefTag] {
        try await db.withTransaction { tx in
            if !append {
                _ = try await tx.query("DELETE FROM metadef_tags WHERE namespace_id = ?", [.int(namespace.id ?? 0)])
            }
            for tag in tags { _ = try await Self.insertTag(tag, in: namespace, tx) }
            return tags
        }
    }

    public func updateTag(named name: String, to tag: MetadefTag, in namespace: MetadefNamespace) async throws -> MetadefTag {
        try await db.withTransaction { tx in
            if tag.name != name, try await Self.tag(named: tag.name, namespace, tx) != nil {
                throw Self.duplicateTag(tag.name, namespace)
            }
            let changed = try await tx.query(
                "UPDATE metadef_tags SET name = ?, updated_at = ? WHERE namespace_id = ? AND name = ? RETURNING id",
                [.text(tag.name), .optional(tag.updatedAt), .int(namespace.id ?? 0), .text(name)])
            guard !changed.isEmpty else { throw GlimpseError.notFound("Could not find metadata tag \(name)") }
            return tag
        }
    }

    public func deleteTag(named name: String, in namespace: MetadefNamespace) async throws {
        try await deleteChild("metadef_tags", name: name, namespace, notFound: "Could not find metadata tag \(name)")
    }

    // MARK: resource types

    public func resourceTypes() async throws -> [MetadefResourceType] {
        try await db.query("SELECT name, protected, created_at, updated_at FROM metadef_resource_types ORDER BY id", []).compactMap { row in
            guard let name = row["name"].string, let created = row["created_at"].date else { return nil }
            return MetadefResourceType(name: name, protected: row["protected"].bool, createdAt: created, updatedAt: row["updated_at"].date)
        }
    }

    public func associations(of namespace: MetadefNamespace) async throws -> [MetadefResourceTypeAssociation] {
        try await associations(of: [namespace])[namespace.id ?? 0] ?? []
    }

    public func associations(of namespaces: [MetadefNamespace]) async throws -> [Int64: [MetadefResourceTypeAssociation]] {
        let ids = namespaces.map { SQLValue.int($0.id ?? 0) }
        guard !ids.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        var result: [Int64: [MetadefResourceTypeAssociation]] = [:]
        for row in try await db.query(
            """
            SELECT a.namespace_id, r.name, a.prefix, a.properties_target, a.created_at, a.updated_at
            FROM metadef_namespace_resource_types a JOIN metadef_resource_types r ON r.id = a.resource_type_id
            WHERE a.namespace_id IN (\(marks)) ORDER BY a.created_at, a.resource_type_id
            """, ids)
        {
            guard let id = row["namespace_id"].int, let name = row["name"].string, let created = row["created_at"].date else { continue }
            result[id, default: []].append(MetadefResourceTypeAssociation(
                name: name, prefix: row["prefix"].string, propertiesTarget: row["properties_target"].string, createdAt: created,
                updatedAt: row["updated_at"].date))
        }
        return result
    }

    static func insertAssociation(
        _ association: MetadefResourceTypeAssociation, in namespace: MetadefNamespace, protectNewType: Bool, _ tx: any SQLQueryable
    ) async throws -> MetadefResourceTypeAssociation {
        var typeID = try await tx.query("SELECT id FROM metadef_resource_types WHERE name = ?", [.text(association.name)]).first?["id"].int
        if typeID == nil {
            typeID = try await tx.query(
                "INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
                [.text(association.name), .bool(protectNewType), .date(association.createdAt), .optional(association.updatedAt)]
            ).first?["id"].int
        }
        let ids: [SQLValue] = [.int(typeID ?? 0), .int(namespace.id ?? 0)]
        let existing = try await tx.query(
            "SELECT namespace_id FROM metadef_namespace_resource_types WHERE resource_type_id = ? AND namespace_id = ?", ids)
        guard existing.isEmpty else {
            throw GlimpseError.conflict(
                "The metadata definition resource-type association of resource-type=\(association.name) to namespace=\(namespace.namespace) already exists.")
        }
        _ = try await tx.query(
            "INSERT INTO metadef_namespace_resource_types (resource_type_id, namespace_id, properties_target, prefix, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            ids + [.optional(association.propertiesTarget), .optional(association.prefix), .date(association.createdAt),
                   .optional(association.updatedAt)])
        return association
    }

    public func createAssociation(_ association: MetadefResourceTypeAssociation, in namespace: MetadefNamespace) async throws
        -> MetadefResourceTypeAssociation
    {
        try await db.withTransaction { tx in
            try await Self.insertAssociation(association, in: namespace, protectNewType: false, tx)
        }
    }

    public func deleteAssociation(named name: String, in namespace: MetadefNamespace) async throws {
        try await db.withTransaction { tx in
            let deleted = try await tx.query(
                """
                DELETE FROM metadef_namespace_resource_types WHERE namespace_id = ?
                AND resource_type_id IN (SELECT id FROM metadef_resource_types WHERE name = ?) RETURNING namespace_id
                """, [.int(namespace.id ?? 0), .text(name)])
            guard !deleted.isEmpty else { throw GlimpseError.notFound("Failed to find resource type \(name) to delete") }
        }
    }
}
