import Foundation
import GlimpseDomain

/// Delayed delete on Glance's rows, so that Glance's scrubber and Glimpse's can each finish
/// what the other's API marked:
/// - delete: `images.status = pending_delete`, `deleted = 1`, `deleted_at`; the live
///   `image_locations` rows `status = pending_delete`, `deleted = 1`, `deleted_at`;
/// - scrub: each location `status = deleted` once its data is gone, then the image `deleted`;
/// - restore: the reverse (Glance's `image_restore` leaves the locations, properties and tags
///   deleted, so the image it restores has no data; Glimpse brings them back).
extension SQLCatalog {
    public func markImagePendingDelete(id: String, expecting status: ImageStatus?) async throws {
        try await softDelete(id: id, expecting: status, as: .pendingDelete)
    }

    public func pendingDeletions(deletedBefore cutoff: Date, after marker: String?, limit: Int) async throws -> [PendingDeletion] {
        var sql = "SELECT id, deleted_at FROM images WHERE status = ? AND deleted = ? AND deleted_at IS NOT NULL AND deleted_at <= ?"
        var binds: [SQLValue] = [.text(ImageStatus.pendingDelete.rawValue), .bool(true), .date(cutoff)]
        if let marker {
            sql += " AND id > ?"
            binds.append(.text(marker))
        }
        binds.append(.int(Int64(max(1, limit))))
        var found: [PendingDeletion] = []
        for row in try await db.query(sql + " ORDER BY id LIMIT ?", binds) {
            guard let id = row["id"].string, let at = row["deleted_at"].date else { continue }
            found.append(PendingDeletion(imageID: id, deletedAt: at, locations: []))
        }
        guard !found.isEmpty else { return [] }
        var index: [String: Int] = [:]
        for (i, p) in found.enumerated() { index[p.imageID] = i }
        let marks = Array(repeating: "?", count: found.count).joined(separator: ", ")
        for row in try await db.query(
            "SELECT id, image_id, value, meta_data FROM image_locations WHERE status = ? AND image_id IN (\(marks)) ORDER BY id",
            [.text(ImageStatus.pendingDelete.rawValue)] + found.map { .text($0.imageID) })
        {
            guard let i = index[row["image_id"].string ?? ""], let locationID = row["id"].int, let url = row["value"].string
            else { continue }
            found[i].locations.append(.init(id: locationID, url: url, metadataJSON: row["meta_data"].string ?? "{}"))
        }
        return found
    }

    public func markLocationDeleted(imageID: String, locationID: Int64) async throws {
        let t = now()
        let rows = try await db.query(
            "UPDATE image_locations SET deleted = ?, status = ?, updated_at = ?, deleted_at = ? WHERE id = ? AND image_id = ? RETURNING id",
            [.bool(true), .text(ImageStatus.deleted.rawValue), .date(t), .date(t), .int(locationID), .text(imageID)])
        guard !rows.isEmpty else { throw GlimpseError.notFound("No location \(locationID) found for image \(imageID).") }
    }

    public func finishImageDeletion(id: String) async throws {
        let t = now()
        try await db.withTransaction { tx in
            let changed = try await tx.query(
                """
                UPDATE images SET status = ?, updated_at = ? WHERE id = ? AND status = ? AND NOT EXISTS \
                (SELECT 1 FROM image_locations WHERE image_locations.image_id = ? AND image_locations.status = ?) RETURNING id
                """,
                [.text(ImageStatus.deleted.rawValue), .date(t), .text(id), .text(ImageStatus.pendingDelete.rawValue), .text(id),
                 .text(ImageStatus.pendingDelete.rawValue)])
            guard changed.isEmpty else { return }
            let status = try await self.storedStatus(tx, id: id)
            guard status == ImageStatus.pendingDelete.rawValue else {
                throw GlimpseError.conflict("Image \(id) is \(status), not pending_delete.")
            }
            throw GlimpseError.conflict("Image \(id) still has data waiting to be deleted.")
        }
    }

    public func restoreImage(id: String) async throws {
        let t = now()
        let pending = SQLValue.text(ImageStatus.pendingDelete.rawValue)
        try await db.withTransaction { tx in
            let status = try await self.storedStatus(tx, id: id)
            guard status == ImageStatus.pendingDelete.rawValue else {
                throw GlimpseError.conflict(
                    "Image \(id) is \(status); only a pending_delete image can be restored.")
            }
            let left = try await tx.query(
                "SELECT id FROM image_locations WHERE image_id = ? AND status = ?", [.text(id), pending])
            guard !left.isEmpty else {
                throw GlimpseError.conflict("Image \(id) cannot be restored: its data has already been deleted.")
            }
            // The children image_destroy deleted with the image carry its deleted_at.
            for table in ["image_properties", "image_tags", "image_members"] {
                _ = try await tx.query(
                    """
                    UPDATE \(table) SET deleted = ?, deleted_at = NULL, updated_at = ? WHERE image_id = ? AND deleted = ? \
                    AND deleted_at = (SELECT deleted_at FROM images WHERE id = ?)
                    """,
                    [.bool(false), .date(t), .text(id), .bool(true), .text(id)])
            }
            _ = try await tx.query(
                "UPDATE image_locations SET status = ?, deleted = ?, deleted_at = NULL, updated_at = ? WHERE image_id = ? AND status = ?",
                [.text("active"), .bool(false), .date(t), .text(id), pending])
            let changed = try await tx.query(
                "UPDATE images SET status = ?, deleted = ?, deleted_at = NULL, updated_at = ? WHERE id = ? AND status = ? RETURNING id",
                [.text(ImageStatus.active.rawValue), .bool(false), .date(t), .text(id), pending])
            guard !changed.isEmpty else { throw GlimpseError.conflict("Image \(id) changed while it was being restored.") }
        }
    }

    /// The stored status of an image, deleted or not; `.notFound` if there is no row.
    func storedStatus(_ tx: any SQLQueryable, id: String) async throws -> String {
        guard let row = try await tx.query("SELECT status FROM images WHERE id = ?", [.text(id)]).first else {
            throw GlimpseError.imageNotFound(id)
        }
        return row["status"].string ?? "unknown"
    }
}
