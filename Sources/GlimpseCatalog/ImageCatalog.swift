import Foundation
import GlimpseDomain

/// The image catalog: Glance's tables, read and changed through whole-image operations.
///
/// Contract (checked by `CatalogConformance`):
/// - `createImage` fails with `.conflict` when the id exists, soft-deleted rows included (OSSN-0075);
/// - `updateImage(_:expecting:)` is a compare-and-swap on `status`: it changes nothing and throws
///   `.conflict` when the stored status differs, `.notFound` when the image is gone; with
///   `unchangedSince` it is also a compare-and-swap on the whole image (its `updated_at`), so a
///   read-modify-write from any node never overwrites a change it did not see (`ImageChanged`);
/// - `addMember` counts the members and inserts in one transaction holding the image's row, so
///   the quota holds across nodes;
/// - deleted images are invisible to `image(id:)` and `listImages`;
/// - `listImages` applies the caller's visibility (owner, public, community, membership) in the query.
public protocol ImageCatalog: Sendable {
    func createImage(_ image: Image) async throws
    func image(id: String) async throws -> Image?
    @discardableResult
    func updateImage(_ image: Image, expecting status: ImageStatus?, unchangedSince: Date?) async throws -> Image
    /// Reads the image inside one transaction that holds it, applies `change` and writes the
    /// result (CAS on `status` when given): for a change that owns only some fields (a status
    /// move, the data fields, one property), so it never writes back a stale copy of the rest.
    /// `change` may throw to change nothing.
    ///
    /// With `lease`, the same transaction starts a write lease (the status a write moves the
    /// image to is never without the lease that lets another node undo it) or ends one,
    /// changing nothing (`.conflict`, `LeaseLost`) if its holder no longer holds it: a write's
    /// outcome is recorded only by the node that still holds the write.
    @discardableResult
    func modifyImage(
        id: String, expecting status: ImageStatus?, lease: WriteLease.Change?,
        _ change: @escaping @Sendable (inout Image) throws -> Void
    ) async throws -> Image
    /// Soft-deletes the image and its children; CAS on `status` like `updateImage`.
    func deleteImage(id: String, expecting status: ImageStatus?) async throws
    func listImages(_ query: ImageQuery, for principal: Principal) async throws -> [Image]

    // Delayed delete (Glance's rows: see `SQLCatalog+DelayedDelete`).

    /// Soft-deletes the image as `pending_delete` (CAS on `status` like `deleteImage`): its live
    /// locations become `pending_delete`, its properties, tags and members are soft-deleted.
    func markImagePendingDelete(id: String, expecting status: ImageStatus?) async throws
    /// `pending_delete` images deleted at or before `cutoff`, by id after `marker`, with their
    /// `pending_delete` locations.
    func pendingDeletions(deletedBefore cutoff: Date, after marker: String?, limit: Int) async throws -> [PendingDeletion]
    /// Marks one location `deleted` (its data is gone); `.notFound` if there is no such location.
    func markLocationDeleted(imageID: String, locationID: Int64) async throws
    /// `pending_delete` → `deleted`, only once no location is `pending_delete` any more:
    /// `.notFound` if the image does not exist, `.conflict` otherwise.
    func finishImageDeletion(id: String) async throws
    /// `pending_delete` → `active`: the image, its `pending_delete` locations and the children
    /// deleted with it come back. `.notFound` if the image does not exist, `.conflict` if it is
    /// not `pending_delete` or none of its data is left.
    func restoreImage(id: String) async throws

    func members(imageID: String) async throws -> [ImageMember]
    func member(imageID: String, memberID: String) async throws -> ImageMember?
    /// `.conflict` if the project is already a member, `.payloadTooLarge` if the image has
    /// `limit` members already.
    func addMember(_ member: ImageMember, limit: Int) async throws
    func updateMember(_ member: ImageMember) async throws
    func removeMember(imageID: String, memberID: String) async throws

    /// Creates or upgrades the schema (idempotent).
    func migrate() async throws
}

extension ImageCatalog {
    @discardableResult
    public func modifyImage(id: String, expecting status: ImageStatus?, _ change: @escaping @Sendable (inout Image) throws -> Void)
        async throws -> Image
    {
        try await modifyImage(id: id, expecting: status, lease: nil, change)
    }

    /// The status compare-and-swap alone (the writer owns the image in that status).
    @discardableResult
    public func updateImage(_ image: Image, expecting status: ImageStatus?) async throws -> Image {
        try await updateImage(image, expecting: status, unchangedSince: nil)
    }

    public func addMember(_ member: ImageMember) async throws {
        try await addMember(member, limit: Int.max)
    }
}

/// Marks the `.conflict` an `unchangedSince` update throws when another request changed the
/// image first: the caller reads it again and re-applies its change.
public struct ImageChanged: Error {}

extension GlimpseError {
    public var isImageChanged: Bool { underlying is ImageChanged }
}

/// A `pending_delete` image and the locations whose data is still to be deleted.
public struct PendingDeletion: Sendable, Equatable {
    public struct Location: Sendable, Equatable {
        /// `image_locations.id`.
        public var id: Int64
        public var url: String
        public var metadataJSON: String

        public init(id: Int64, url: String, metadataJSON: String) {
            self.id = id
            self.url = url
            self.metadataJSON = metadataJSON
        }

        /// The same location as the image operations see it (to find its store).
        public var imageLocation: ImageLocation { ImageLocation(url: url, metadataJSON: metadataJSON, status: "pending_delete") }
    }

    public var imageID: String
    public var deletedAt: Date
    public var locations: [Location]

    public init(imageID: String, deletedAt: Date, locations: [Location]) {
        self.imageID = imageID
        self.deletedAt = deletedAt
        self.locations = locations
    }
}
