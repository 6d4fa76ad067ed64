import Foundation
import GlimpseDomain

/// The catalog on Glance's schema, written once for every SQL executor (DESIGN.md §3).
public struct SQLCatalog: ImageCatalog {
    let db: any SQLExecutor
    let now: @Sendable () -> Date

    public init(executor: any SQLExecutor, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.db = executor
        self.now = clock
    }

    // MARK: schema

    public func migrate() async throws {
        try await db.withTransaction { tx in
            // Nodes starting together migrate one at a time (PostgreSQL's DDL is transactional;
            // SQLite's write transaction is exclusive already).
            if tx.dialect == .postgres {
                _ = try await tx.query("SELECT pg_advisory_xact_lock(?)", [.int(Self.migrationLockKey)])
            }
            for statement in GlanceSchema.statements(tx.dialect) {
                _ = try await tx.query(statement, [])
            }
            let current = try await tx.query("SELECT version_num FROM alembic_version", [])
            if current.isEmpty {
                _ = try await tx.query("INSERT INTO alembic_version (version_num) VALUES (?)", [.text(GlanceSchema.alembicHead)])
            }
        }
    }

    /// The advisory lock key migrations hold ("glimpse" in ASCII).
    static let migrationLockKey: Int64 = 0x676c_696d_7073_65

    // MARK: images

    static let imageColumns =
        "id, name, size, status, created_at, updated_at, deleted_at, deleted, disk_format, container_format, checksum, owner, min_disk, min_ram, protected, virtual_size, visibility, os_hidden, os_hash_algo, os_hash_value"

    public func createImage(_ image: Image) async throws {
        do {
            try await insertImage(image)
        } catch let error as GlimpseError where error.code == .conflict {
            // Also what two nodes creating the same id at once get from the primary key.
            throw GlimpseError.conflict("An image with identifier \(image.id) already exists")
        }
    }

    func insertImage(_ image: Image) async throws {
        try await db.withTransaction { tx in
            let existing = try await tx.query("SELECT id FROM images WHERE id = ?", [.text(image.id)])
            guard existing.isEmpty else {
                throw GlimpseError.conflict("An image with identifier \(image.id) already exists")
            }
            _ = try await tx.query(
                "INSERT INTO images (\(Self.imageColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \(Self.visibilitySQL(image.visibility)), ?, ?, ?)",
                Self.imageBinds(image))
            try await syncChildren(tx, image, previous: nil)
        }
    }

    public func image(id: String) async throws -> Image? {
        let rows = try await db.query("SELECT \(Self.imageColumns) FROM images WHERE id = ? AND deleted = ?", [.text(id), .bool(false)])
        guard let row = rows.first, var image = Self.decodeImage(row) else { return nil }
        try await loadChildren(db, into: &image, withLocations: true)
        return image
    }

    public func updateImage(_ image: Image, expecting status: ImageStatus?, unchangedSince: Date?) async throws -> Image {
        try await db.withTransaction { tx in
            let current = try await self.lockImage(tx, id: image.id)
            if let unchangedSince, let current, let version = current["updated_at"].date,
                abs(version.timeIntervalSince(unchangedSince)) > Self.versionResolution
            {
                throw GlimpseError(.conflict, "The image was changed by another request; try again.", underlying: ImageChanged())
            }
            var stored = image
            stored.updatedAt = self.nextVersion(after: current?["updated_at"].date ?? image.updatedAt)
            var previous = Image(id: stored.id, createdAt: stored.createdAt)
            try await self.loadChildren(tx, into: &previous, withLocations: true)
            try await self.write(tx, stored, previous: previous, expecting: status)
            return stored
        }
    }

    public func modifyImage(
        id: String, expecting status: ImageStatus?, lease: WriteLease.Change?,
        _ change: @escaping @Sendable (inout Image) throws -> Void
    ) async throws -> Image {
        try await db.withTransaction { tx in
            switch lease {
            case .start(let new): try await self.startLease(tx, new)
            case .end(let reference): try await self.endLease(tx, reference)
            case nil: break
            }
            try await self.lockImage(tx, id: id)
            let rows = try await tx.query("SELECT \(Self.imageColumns) FROM images WHERE id = ? AND deleted = ?", [.text(id), .bool(false)])
            guard var image = rows.first.flatMap(Self.decodeImage) else { throw GlimpseError.imageNotFound(id) }
            if let status, image.status != status {
                throw GlimpseError.conflict("Image status transition conflict: the image is now \(image.status.rawValue).")
            }
            try await self.loadChildren(tx, into: &image, withLocations: true)
            let previous = image
            try change(&image)
            image.updatedAt = self.nextVersion(after: previous.updatedAt)
            try await self.write(tx, image, previous: previous, expecting: status)
            return image
        }
    }

    /// Each change moves updated_at forward, so it serves as the image's version.
    func nextVersion(after version: Date) -> Date {
        max(now(), version.addingTimeInterval(Self.versionResolution * 4))
    }

    /// Writes the image's row (a compare-and-swap on `status` when given) and the difference
    /// of its children from `previous`.
    func write(_ tx: any SQLQueryable, _ stored: Image, previous: Image, expecting status: ImageStatus?) async throws {
        var sql = "UPDATE images SET name = ?, size = ?, status = ?, updated_at = ?, disk_format = ?, container_format = ?, checksum = ?, owner = ?, min_disk = ?, min_ram = ?, protected = ?, virtual_size = ?, visibility = \(Self.visibilitySQL(stored.visibility)), os_hidden = ?, os_hash_algo = ?, os_hash_value = ? WHERE id = ? AND deleted = ?"
        var binds: [SQLValue] = [
            .optional(stored.name), .optional(stored.size), .text(stored.status.rawValue), .date(stored.updatedAt),
            .optional(stored.diskFormat), .optional(stored.containerFormat), .optional(stored.checksum),
            .optional(stored.owner), .int(Int64(stored.minDisk)), .int(Int64(stored.minRam)), .bool(stored.protected),
            .optional(stored.virtualSize), .bool(stored.osHidden),
            .optional(stored.osHashAlgo), .optional(stored.osHashValue), .text(stored.id), .bool(false),
        ]
        if let status {
            sql += " AND status = ?"
            binds.append(.text(status.rawValue))
        }
        let changed = try await tx.query(sql + " RETURNING id", binds)
        guard !changed.isEmpty else { throw try await casFailure(tx, id: stored.id) }
        try await syncChildren(tx, stored, previous: previous)
    }

    public func deleteImage(id: String, expecting status: ImageStatus?) async throws {
        try await softDelete(id: id, expecting: status, as: .deleted)
    }

    /// Glance's `image_destroy`: the image row becomes `status` with `deleted = 1`, its live
    /// locations take the same status (`deleted`, or `pending_delete` for the scrubber), and
    /// properties, tags and members are soft-deleted at the image's `deleted_at`.
    func softDelete(id: String, expecting status: ImageStatus?, as newStatus: ImageStatus) async throws {
        let t = now()
        try await db.withTransaction { tx in
            try await self.lockImage(tx, id: id)
            var sql = "UPDATE images SET status = ?, deleted = ?, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = ?"
            var binds: [SQLValue] = [.text(newStatus.rawValue), .bool(true), .date(t), .date(t), .text(id), .bool(false)]
            if let status {
                sql += " AND status = ?"
                binds.append(.text(status.rawValue))
            }
            guard !(try await tx.query(sql + " RETURNING id", binds)).isEmpty else {
                throw try await self.casFailure(tx, id: id)
            }
            for table in ["image_properties", "image_tags", "image_members"] {
                _ = try await tx.query(
                    "UPDATE \(table) SET deleted = ?, deleted_at = ?, updated_at = ? WHERE image_id = ? AND deleted = ?",
                    [.bool(true), .date(t), .date(t), .text(id), .bool(false)])
            }
            _ = try await tx.query(
                "UPDATE image_locations SET deleted = ?, deleted_at = ?, updated_at = ?, status = ? WHERE image_id = ? AND deleted = ?",
                [.bool(true), .date(t), .date(t), .text(newStatus.rawValue), .text(id), .bool(false)])
        }
    }

    /// Two timestamps closer than this are the same version (both SQLite's text and
    /// PostgreSQL's `timestamp` keep microseconds; a Date's round trip may move one).
    static let versionResolution: TimeInterval = 0.000_002

    /// Holds the image's row until the transaction ends (PostgreSQL), so that what the
    /// transaction reads of the image stays true until it commits; SQLite's write transactions
    /// are exclusive already. Returns the row, or nil when there is none.
    @discardableResult
    func lockImage(_ tx: any SQLQueryable, id: String) async throws -> SQLRow? {
        try await tx.query("SELECT id, status, deleted, updated_at FROM images WHERE id = ?\(tx.dialect.forUpdate)", [.text(id)]).first
    }

    /// Explains why a compare-and-swap changed nothing.
    func casFailure(_ tx: any SQLQueryable, id: String) async throws -> GlimpseError {
        let rows = try await tx.query("SELECT status, deleted FROM images WHERE id = ?", [.text(id)])
        guard let row = rows.first, !row["deleted"].bool else { return .imageNotFound(id) }
        let current = row["status"].string ?? "unknown"
        return GlimpseError.conflict("Image status transition conflict: the image is now \(current).")
    }

    /// A value of `images.visibility` as an SQL literal. Glance's PostgreSQL schema makes that
    /// column the enum type `image_visibility`, which a bound text parameter does not convert to
    /// (nor compare with); an untyped literal does, and also suits a VARCHAR column. The
    /// values come from `Visibility`, never from a client's text.
    static func visibilitySQL(_ v: Visibility) -> String {
        "'\(v.rawValue)'"
    }

    /// The row's values for `insertImage`, in `imageColumns` order without `visibility`
    /// (see `visibilitySQL`).
    static func imageBinds(_ i: Image) -> [SQLValue] {
        [
            .text(i.id), .optional(i.name), .optional(i.size), .text(i.status.rawValue), .date(i.createdAt),
            .date(i.updatedAt), .optional(i.deletedAt), .bool(false), .optional(i.diskFormat), .optional(i.containerFormat),
            .optional(i.checksum), .optional(i.owner), .int(Int64(i.minDisk)), .int(Int64(i.minRam)), .bool(i.protected),
            .optional(i.virtualSize), .bool(i.osHidden), .optional(i.osHashAlgo),
            .optional(i.osHashValue),
        ]
    }

    static func decodeImage(_ row: SQLRow) -> Image? {
        guard let id = row["id"].string, let created = row["created_at"].date else { return nil }
        var image = Image(id: id, createdAt: created, updatedAt: row["updated_at"].date ?? created)
        image.name = row["name"].string
        image.size = row["size"].int
        image.status = ImageStatus(rawValue: row["status"].string ?? "") ?? .queued
        image.deletedAt = row["deleted_at"].date
        image.diskFormat = row["disk_format"].string
        image.containerFormat = row["container_format"].string
        image.checksum = row["checksum"].string
        image.owner = row["owner"].string
        image.minDisk = Int(row["min_disk"].int ?? 0)
        image.minRam = Int(row["min_ram"].int ?? 0)
        image.protected = row["protected"].bool
        image.virtualSize = row["virtual_size"].int
        image.visibility = Visibility(rawValue: row["visibility"].string ?? "") ?? .shared
        image.osHidden = row["os_hidden"].bool
        image.osHashAlgo = row["os_hash_algo"].string
        image.osHashValue = row["os_hash_value"].string
        return image
    }

    // MARK: children (properties, tags, locations)

    func loadChildren(_ q: any SQLQueryable, into image: inout Image, withLocations: Bool) async throws {
        var images = [image]
        try await loadChildren(q, into: &images, withLocations: withLocations)
        image = images[0]
    }

    /// Loads properties and tags (and optionally locations) for a page of images, in one query.
    func loadChildren(_ q: any SQLQueryable, into images: inout [Image], withLocations: Bool) async throws {
        guard !images.isEmpty else { return }
        var index: [String: Int] = [:]
        for (i, image) in images.enumerated() { index[image.id] = i }
        let (sql, binds) = Self.childrenStatement(ids: images.map(\.id), withLocations: withLocations)
        for row in try await q.query(sql, binds) {
            guard !row["deleted"].bool, let i = index[row["image_id"].string ?? ""], let a = row["a"].string else { continue }
            switch row["kind"].string {
            case "p":
                images[i].properties[a] = row["b"].string ?? ""
            case "t":
                if !images[i].tags.contains(a) { images[i].tags.append(a) }
            case "l":
                images[i].locations.append(
                    ImageLocation(url: a, metadataJSON: row["b"].string ?? "{}", status: row["c"].string ?? "active"))
            default:
                break
            }
        }
    }

    /// The one SELECT that loads the children of `ids` (tests ask the database how it would
    /// run it): one row per child with its kind (`p`, `t`, `l`), image, id (for order), whether
    /// it is deleted, and up to three values. Soft-deleted children are skipped by the caller
    /// rather than in SQL: with `deleted = ?` beside `image_id IN (…)` SQLite without
    /// statistics walks the `deleted` index over every live child of every image instead of
    /// looking up these images' children.
    public static func childrenStatement(ids: [String], withLocations: Bool) -> (String, [SQLValue]) {
        let binds = ids.map { SQLValue.text($0) }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        var sql = """
            SELECT 'p' AS kind, image_id, id, deleted, name AS a, value AS b, NULL AS c FROM image_properties WHERE image_id IN (\(marks)) \
            UNION ALL SELECT 't', image_id, id, deleted, value, NULL, NULL FROM image_tags WHERE image_id IN (\(marks))
            """
        if withLocations {
            sql += " UNION ALL SELECT 'l', image_id, id, deleted, value, meta_data, status FROM image_locations WHERE image_id IN (\(marks))"
        }
        return (sql + " ORDER BY 1, 3", Array(repeating: binds, count: withLocations ? 3 : 2).flatMap { $0 })
    }

    /// Writes the difference between `previous` and `image` for properties, tags and locations.
    /// `image_properties` is unique on (image_id, name) over deleted rows too, so a property
    /// that comes back revives its row, as Glance does.
    func syncChildren(_ tx: any SQLQueryable, _ image: Image, previous: Image?) async throws {
        let t = now()
        let id = SQLValue.text(image.id)
        let oldProps = previous?.properties ?? [:]
        for (name, value) in image.properties where oldProps[name] != value {
            let revived = try await tx.query(
                "UPDATE image_properties SET value = ?, deleted = ?, deleted_at = NULL, updated_at = ? WHERE image_id = ? AND name = ? RETURNING id",
                [.text(value), .bool(false), .date(t), id, .text(name)])
            if revived.isEmpty {
                _ = try await tx.query(
                    "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted) VALUES (?, ?, ?, ?, ?, ?)",
                    [id, .text(name), .text(value), .date(t), .date(t), .bool(false)])
            }
        }
        for name in oldProps.keys where image.properties[name] == nil {
            _ = try await tx.query(
                "UPDATE image_properties SET deleted = ?, deleted_at = ?, updated_at = ? WHERE image_id = ? AND name = ? AND deleted = ?",
                [.bool(true), .date(t), .date(t), id, .text(name), .bool(false)])
        }
        let oldTags = previous?.tags ?? []
        for tag in image.tags where !oldTags.contains(tag) {
            _ = try await tx.query(
                "INSERT INTO image_tags (image_id, value, created_at, updated_at, deleted) VALUES (?, ?, ?, ?, ?)",
                [id, .text(tag), .date(t), .date(t), .bool(false)])
        }
        for tag in oldTags where !image.tags.contains(tag) {
            _ = try await tx.query(
                "UPDATE image_tags SET deleted = ?, deleted_at = ?, updated_at = ? WHERE image_id = ? AND value = ? AND deleted = ?",
                [.bool(true), .date(t), .date(t), id, .text(tag), .bool(false)])
        }
        let oldLocations = previous?.locations ?? []
        for location in image.locations where !oldLocations.contains(where: { $0.url == location.url }) {
            _ = try await tx.query(
                "INSERT INTO image_locations (image_id, value, created_at, updated_at, deleted, meta_data, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [id, .text(location.url), .date(t), .date(t), .bool(false), .text(location.metadataJSON), .text(location.status)])
        }
        for location in oldLocations where !image.locations.contains(where: { $0.url == location.url }) {
            _ = try await tx.query(
                "UPDATE image_locations SET deleted = ?, deleted_at = ?, updated_at = ?, status = ? WHERE image_id = ? AND value = ? AND deleted = ?",
                [.bool(true), .date(t), .date(t), .text("deleted"), id, .text(location.url), .bool(false)])
        }
    }

    // MARK: members

    static func decodeMember(_ row: SQLRow) -> ImageMember? {
        guard let imageID = row["image_id"].string, let member = row["member"].string, let created = row["created_at"].date
        else { return nil }
        return ImageMember(
            imageID: imageID, memberID: member, status: MemberStatus(rawValue: row["status"].string ?? "") ?? .pending,
            canShare: row["can_share"].bool, createdAt: created, updatedAt: row["updated_at"].date)
    }

    public func members(imageID: String) async throws -> [ImageMember] {
        try await db.query(
            "SELECT image_id, member, status, can_share, created_at, updated_at FROM image_members WHERE image_id = ? AND deleted = ? ORDER BY id",
            [.text(imageID), .bool(false)]
        ).compactMap(Self.decodeMember)
    }

    public func member(imageID: String, memberID: String) async throws -> ImageMember? {
        try await db.query(
            "SELECT image_id, member, status, can_share, created_at, updated_at FROM image_members WHERE image_id = ? AND member = ? AND deleted = ?",
            [.text(imageID), .text(memberID), .bool(false)]
        ).compactMap(Self.decodeMember).first
    }

    public func addMember(_ member: ImageMember, limit: Int) async throws {
        try await db.withTransaction { tx in
            guard let image = try await self.lockImage(tx, id: member.imageID), !image["deleted"].bool else {
                throw GlimpseError.imageNotFound(member.imageID)
            }
            let existing = try await tx.query(
                "SELECT member FROM image_members WHERE image_id = ? AND deleted = ?", [.text(member.imageID), .bool(false)])
            guard !existing.contains(where: { $0["member"].string == member.memberID }) else {
                throw GlimpseError.conflict("Member \(member.memberID) already exists for image \(member.imageID).")
            }
            guard existing.count < limit else {
                throw GlimpseError.tooLarge("Maximum number of image members exceeded (\(limit)).")
            }
            _ = try await tx.query(
                "INSERT INTO image_members (image_id, member, can_share, created_at, updated_at, deleted, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.text(member.imageID), .text(member.memberID), .bool(member.canShare), .date(member.createdAt),
                 .date(member.updatedAt), .bool(false), .text(member.status.rawValue)])
        }
    }

    public func updateMember(_ member: ImageMember) async throws {
        let rows = try await db.query(
            "UPDATE image_members SET status = ?, can_share = ?, updated_at = ? WHERE image_id = ? AND member = ? AND deleted = ? RETURNING id",
            [.text(member.status.rawValue), .bool(member.canShare), .date(member.updatedAt), .text(member.imageID), .text(member.memberID), .bool(false)])
        guard !rows.isEmpty else { throw GlimpseError.notFound("Member \(member.memberID) not found.") }
    }

    public func removeMember(imageID: String, memberID: String) async throws {
        let t = now()
        let rows = try await db.query(
            "UPDATE image_members SET deleted = ?, deleted_at = ?, updated_at = ? WHERE image_id = ? AND member = ? AND deleted = ? RETURNING id",
            [.bool(true), .date(t), .date(t), .text(imageID), .text(memberID), .bool(false)])
        guard !rows.isEmpty else { throw GlimpseError.notFound("Member \(memberID) not found.") }
    }
}
