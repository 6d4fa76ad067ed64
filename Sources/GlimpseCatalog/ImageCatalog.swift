import GlimpseDomain

/// The image catalog: Glance's tables, read and changed through whole-image operations.
///
/// Contract (checked by `CatalogConformance`):
/// - `createImage` fails with `.conflict` when the id exists, soft-deleted rows included (OSSN-0075);
/// - `updateImage(_:expecting:)` is a compare-and-swap on `status`: it changes nothing and throws
///   `.conflict` when the stored status differs, `.notFound` when the image is gone;
/// - deleted images are invisible to `image(id:)` and `listImages`;
/// - `listImages` applies the caller's visibility (owner, public, community, membership) in the query.
public protocol ImageCatalog: Sendable {
    func createImage(_ image: Image) async throws
    func image(id: String) async throws -> Image?
    @discardableResult
    func updateImage(_ image: Image, expecting status: ImageStatus?) async throws -> Image
    /// Soft-deletes the image and its children; CAS on `status` like `updateImage`.
    func deleteImage(id: String, expecting status: ImageStatus?) async throws
    func listImages(_ query: ImageQuery, for principal: Principal) async throws -> [Image]

    func members(imageID: String) async throws -> [ImageMember]
    func member(imageID: String, memberID: String) async throws -> ImageMember?
    /// `.conflict` if the project is already a member.
    func addMember(_ member: ImageMember) async throws
    func updateMember(_ member: ImageMember) async throws
    func removeMember(imageID: String, memberID: String) async throws

    /// Creates or upgrades the schema (idempotent).
    func migrate() async throws
}
