import Foundation
import GlimpseDomain

/// A write some node is streaming into a store (an upload, a stage, an import's copy), kept
/// alive by that node's heartbeat, so that when the node dies another one can undo what it
/// left: the image status the write had moved it to, and the data a store keeps from a write
/// that was neither committed nor cancelled (Swift segments, an open S3 multipart upload).
public struct WriteLease: Sendable, Equatable {
    public var id: String
    public var imageID: String
    /// The store written to (`BlobStore.id`; the staging store's for a stage).
    public var storeID: String
    /// The writer's `BlobWriter.leftovers` token, as last recorded.
    public var leftovers: String?
    /// The status the write moved the image to (`saving` for an upload, `uploading` for a
    /// stage), which an abandoned write's image returns from to `queued`; nil when someone else
    /// settles the image (an import task is taken over as a whole).
    public var imageStatus: ImageStatus?
    /// Who holds the lease: the node's process, or the node that took it over.
    public var holder: String
    public var heartbeatAt: Date

    public init(
        id: String = UUID().uuidString.lowercased(), imageID: String, storeID: String, leftovers: String? = nil,
        imageStatus: ImageStatus?, holder: String, heartbeatAt: Date
    ) {
        self.id = id
        self.imageID = imageID
        self.storeID = storeID
        self.leftovers = leftovers
        self.imageStatus = imageStatus
        self.holder = holder
        self.heartbeatAt = heartbeatAt
    }

    /// A lease as its holder names it when ending it.
    public struct Reference: Sendable, Equatable {
        public var id: String
        public var holder: String
        public init(id: String, holder: String) {
            self.id = id
            self.holder = holder
        }
    }

    public var reference: Reference { Reference(id: id, holder: holder) }

    /// What `ImageCatalog.modifyImage` does to a lease in the image's transaction.
    public enum Change: Sendable {
        case start(WriteLease)
        case end(Reference)
    }
}

/// Marks the `.conflict` a holder gets when its lease was taken over (it was presumed dead).
public struct LeaseLost: Error {}

extension GlimpseError {
    public var isLeaseLost: Bool { underlying is LeaseLost }
}

/// Glimpse's `glimpse_write_leases` table.
///
/// Contract (checked by `CatalogConformanceTests`):
/// - `renewLeases` refreshes only leases still held by the given holder and reports the others;
/// - `takeLease` hands a stale lease to exactly one caller (a compare-and-swap on holder and
///   heartbeat), which then holds it (and must renew it) like any other;
/// - `endLease` and `modifyImage(…endingLease:)` end a lease only for its holder.
public protocol WriteLeaseCatalog: Sendable {
    func startLease(_ lease: WriteLease) async throws
    /// Refreshes the heartbeat (and leftovers) of each lease its holder still holds; returns
    /// the ids of those it holds no longer.
    func renewLeases(_ leases: [WriteLease], at time: Date) async throws -> Set<String>
    /// Ends the lease if `reference.holder` still holds it; a lease already gone is fine.
    func endLease(_ reference: WriteLease.Reference) async throws
    /// Leases whose heartbeat is older than `staleBefore`, oldest first.
    func staleLeases(before staleBefore: Date, limit: Int) async throws -> [WriteLease]
    /// Takes `lease` over for `holder` if it is still as read and still stale; nil when another
    /// caller took it first or its holder renewed it.
    func takeLease(_ lease: WriteLease, staleBefore: Date, holder: String, at time: Date) async throws -> WriteLease?
}

extension SQLCatalog: WriteLeaseCatalog {
    public func startLease(_ lease: WriteLease) async throws {
        try await startLease(db, lease)
    }

    func startLease(_ q: any SQLQueryable, _ lease: WriteLease) async throws {
        _ = try await q.query(
            "INSERT INTO glimpse_write_leases (id, image_id, store, leftovers, image_status, holder, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [.text(lease.id), .text(lease.imageID), .text(lease.storeID), .optional(lease.leftovers),
             .optional(lease.imageStatus?.rawValue), .text(lease.holder), .date(lease.heartbeatAt)])
    }

    public func renewLeases(_ leases: [WriteLease], at time: Date) async throws -> Set<String> {
        guard !leases.isEmpty else { return [] }
        return try await db.withTransaction { tx in
            var lost: Set<String> = []
            for lease in leases {
                let rows = try await tx.query(
                    "UPDATE glimpse_write_leases SET heartbeat_at = ?, leftovers = ? WHERE id = ? AND holder = ? RETURNING id",
                    [.date(time), .optional(lease.leftovers), .text(lease.id), .text(lease.holder)])
                if rows.isEmpty { lost.insert(lease.id) }
            }
            return lost
        }
    }

    public func endLease(_ reference: WriteLease.Reference) async throws {
        _ = try await db.query(
            "DELETE FROM glimpse_write_leases WHERE id = ? AND holder = ? RETURNING id", [.text(reference.id), .text(reference.holder)])
    }

    /// Inside `modifyImage`: ends the lease or throws `LeaseLost` (the transaction then changes nothing).
    func endLease(_ tx: any SQLQueryable, _ reference: WriteLease.Reference) async throws {
        let rows = try await tx.query(
            "DELETE FROM glimpse_write_leases WHERE id = ? AND holder = ? RETURNING id", [.text(reference.id), .text(reference.holder)])
        guard !rows.isEmpty else {
            throw GlimpseError(.conflict, "The write was taken over by another node.", underlying: LeaseLost())
        }
    }

    public func staleLeases(before staleBefore: Date, limit: Int) async throws -> [WriteLease] {
        try await db.query(
            "SELECT id, image_id, store, leftovers, image_status, holder, heartbeat_at FROM glimpse_write_leases WHERE heartbeat_at < ? ORDER BY heartbeat_at LIMIT ?",
            [.date(staleBefore), .int(Int64(limit))]
        ).compactMap(Self.decodeLease)
    }

    public func takeLease(_ lease: WriteLease, staleBefore: Date, holder: String, at time: Date) async throws -> WriteLease? {
        let rows = try await db.query(
            "UPDATE glimpse_write_leases SET holder = ?, heartbeat_at = ? WHERE id = ? AND holder = ? AND heartbeat_at < ? RETURNING id",
            [.text(holder), .date(time), .text(lease.id), .text(lease.holder), .date(staleBefore)])
        guard !rows.isEmpty else { return nil }
        var taken = lease
        taken.holder = holder
        taken.heartbeatAt = time
        return taken
    }

    static func decodeLease(_ row: SQLRow) -> WriteLease? {
        guard let id = row["id"].string, let imageID = row["image_id"].string, let store = row["store"].string,
            let holder = row["holder"].string, let heartbeat = row["heartbeat_at"].date
        else { return nil }
        return WriteLease(
            id: id, imageID: imageID, storeID: store, leftovers: row["leftovers"].string,
            imageStatus: row["image_status"].string.flatMap(ImageStatus.init(rawValue:)), holder: holder, heartbeatAt: heartbeat)
    }
}
