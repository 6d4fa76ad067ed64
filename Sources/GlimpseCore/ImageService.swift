import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpsePolicy
import GlimpseStore
import Logging
import NIOCore

/// The image operations: one linear function per API operation (DESIGN.md §1).
///
/// Each function loads what it needs, asks `ImagePolicy` once, changes the catalog with a
/// compare-and-swap, and throws only `GlimpseError`.
public struct ImageService: Sendable {
    public let catalog: any Catalog
    /// Where new image data is written.
    public let defaultStore: any BlobStore
    /// Every store that may hold existing data (the default one included), to read and delete locations.
    public let stores: [any BlobStore]
    public let configuration: ImageServiceConfiguration
    public let policy: ImagePolicy
    /// Where `PUT /stage` and web-download put data before an import task moves it into stores.
    public let staging: StagingArea?
    /// Wakes this node's `TaskWorker` when a task is queued.
    public let taskSignal: TaskSignal
    /// Downloads web-download and legacy `import` task sources (nil: those methods are unavailable).
    public let webFetcher: (any WebFetching)?
    /// The writes this process is streaming into stores (`WriteLeaseKeeper` keeps them alive).
    public let writeLeases: WriteLeases
    let now: @Sendable () -> Date
    let logger: Logger

    public init(
        catalog: any Catalog, defaultStore: any BlobStore, otherStores: [any BlobStore] = [],
        configuration: ImageServiceConfiguration = .init(), staging: StagingArea? = nil, logger: Logger = Logger(label: "glimpse.images"),
        webFetcher: (any WebFetching)? = nil, writeLeases: WriteLeases = WriteLeases(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.webFetcher = webFetcher
        self.writeLeases = writeLeases
        self.catalog = catalog
        self.defaultStore = defaultStore
        self.stores = [defaultStore] + otherStores
        var configuration = configuration
        let policy = configuration.policy
        configuration.attributes.mayChangeVisibility = { v, image, p in policy.canSetVisibility(v, on: image, principal: p) }
        if let protections = configuration.propertyProtections {
            configuration.attributes.mayAccessProperty = { op, key, p in
                protections.allows(PropertyProtections.Operation(rawValue: op.rawValue)!, property: key, principal: p)
            }
        }
        self.configuration = configuration
        self.policy = policy
        self.staging = staging
        self.taskSignal = TaskSignal()
        self.logger = logger
        self.now = clock
    }

    var attributes: ImageAttributes { configuration.attributes }

    // MARK: read

    /// The image if the caller may see it; 404 otherwise, as Glance hides what you may not see.
    public func visibleImage(_ id: String, principal: Principal) async throws -> Image {
        guard Self.isUUID(id), let image = try await catalog.image(id: id) else { throw GlimpseError.imageNotFound(id) }
        var membership: ImageMember?
        if image.visibility == .shared, !principal.isAdmin, !principal.owns(image), let project = principal.projectID {
            membership = try await catalog.member(imageID: id, memberID: project)
        }
        guard policy.canSee(image, principal: principal, membership: membership) else { throw GlimpseError.imageNotFound(id) }
        return image
    }

    public func show(_ id: String, principal: Principal) async throws -> Image {
        attributes.readable(try await visibleImage(id, principal: principal), principal: principal)
    }

    public func list(_ query: ImageQuery, principal: Principal) async throws -> [Image] {
        guard policy.allows("get_images", principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to list images.")
        }
        return try await catalog.listImages(query, for: principal).map { attributes.readable($0, principal: principal) }
    }

    // MARK: create, update, delete

    public func create(_ body: JSONValue, principal: Principal) async throws -> Image {
        guard let fields = body.objectValue else { throw GlimpseError.badRequest("Request body must be a JSON object.") }
        var id = UUID().uuidString.lowercased()
        if let given = fields["id"] {
            guard let s = given.stringValue, Self.isUUID(s) else {
                throw GlimpseError.badRequest("Invalid image id: it must be a UUID.")
            }
            id = s
        }
        var owner = principal.projectID
        if let given = fields["owner"] {
            guard given == .null || given.stringValue != nil else { throw GlimpseError.badRequest("Invalid value for 'owner'.") }
            if given.stringValue != principal.projectID, !principal.isAdmin {
                throw GlimpseError.forbidden("You are not permitted to create images owned by '\(given.stringValue ?? "")'.")
            }
            owner = given.stringValue
        }
        let visibility = fields["visibility"]?.stringValue.flatMap(Visibility.init(rawValue:))
        guard policy.canCreate(owner: owner, visibility: visibility, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to create images.")
        }
        let t = now()
        var image = Image(id: id, owner: owner, createdAt: t)
        for (key, value) in fields.pairs where key != "id" && key != "owner" {
            try attributes.set(key, to: value, on: &image, principal: principal)
        }
        try await catalog.createImage(image)
        return attributes.readable(image, principal: principal)
    }

    public func update(_ id: String, patch: ImagePatch, principal: Principal) async throws -> Image {
        try await readModifyWrite {
            let image = try await visibleImage(id, principal: principal)
            guard policy.allows("modify_image", image, principal: principal) else {
                throw GlimpseError.forbidden("You are not authorized to modify image \(id).")
            }
            let updated = try patch.apply(to: image, principal: principal, attributes: attributes)
            if updated == image { return attributes.readable(image, principal: principal) }
            return attributes.readable(
                try await catalog.updateImage(updated, expecting: image.status, unchangedSince: image.updatedAt), principal: principal)
        }
    }

    /// Runs a read-modify-write of one image again when another request (on any node) changed
    /// the image between the read and the write, so no change is lost and every check (quotas,
    /// policy) is made against what is stored.
    func readModifyWrite<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as GlimpseError where error.isImageChanged && attempt < 20 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...(2 * attempt))))
            }
        }
    }

    /// Deletes the image (v1, v2 and the registry) and returns its new status: `pending_delete`
    /// with `delayed_delete` when it has data (the `Scrubber` deletes that later), else `deleted`
    /// with the data deleted now.
    @discardableResult
    public func delete(_ id: String, principal: Principal) async throws -> ImageStatus {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("delete_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to delete image \(id).")
        }
        guard !image.protected else {
            throw GlimpseError.forbidden("Image \(id) is protected and cannot be deleted.")
        }
        if configuration.delayedDelete, image.hasData {
            try await catalog.markImagePendingDelete(id: id, expecting: image.status)
            return .pendingDelete
        }
        try await catalog.deleteImage(id: id, expecting: image.status)
        for location in image.locations {
            await deleteData(at: location)
        }
        // Staged data dies with its image (an import task still running finds the image gone).
        if image.status == .uploading || image.status == .importing { await staging?.remove(id) }
        return .deleted
    }

    /// Removes data whose catalog entry is gone. A failure leaves an orphan (logged), never an image without data.
    func deleteData(at location: ImageLocation) async {
        guard let store = store(for: location) else { return }
        do {
            try await store.delete(location: location.url)
        } catch {
            logger.warning("could not delete image data", metadata: ["store": "\(store.id)", "error": "\(error)"])
        }
    }

    // MARK: actions

    public func deactivate(_ id: String, principal: Principal) async throws {
        try await setActivation(id, principal: principal, from: .active, to: .deactivated)
    }

    public func reactivate(_ id: String, principal: Principal) async throws {
        try await setActivation(id, principal: principal, from: .deactivated, to: .active)
    }

    func setActivation(_ id: String, principal: Principal, from: ImageStatus, to: ImageStatus) async throws {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows(to == .deactivated ? "deactivate" : "reactivate", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to \(to == .active ? "reactivate" : "deactivate") image \(id).")
        }
        if image.status == to { return }
        guard image.status == from else {
            let verb = to == .active ? "reactivate" : "deactivate"
            throw GlimpseError.forbidden("Not allowed to \(verb) image in status '\(image.status.rawValue)'")
        }
        try await catalog.modifyImage(id: id, expecting: from) { $0.status = to }
    }

    // MARK: tags

    public func addTag(_ id: String, tag: String, principal: Principal) async throws {
        try await readModifyWrite { try await addTagOnce(id, tag: tag, principal: principal) }
    }

    func addTagOnce(_ id: String, tag: String, principal: Principal) async throws {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("modify_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to modify image \(id).")
        }
        try ImageAttributes.checkTag(tag)
        guard !image.tags.contains(tag) else { return }
        guard image.tags.count < attributes.tagQuota else {
            throw GlimpseError.tooLarge("Maximum number of tags exceeded (\(attributes.tagQuota)).")
        }
        var changed = image
        changed.tags.append(tag)
        try await catalog.updateImage(changed, expecting: image.status, unchangedSince: image.updatedAt)
    }

    public func removeTag(_ id: String, tag: String, principal: Principal) async throws {
        try await readModifyWrite { try await removeTagOnce(id, tag: tag, principal: principal) }
    }

    func removeTagOnce(_ id: String, tag: String, principal: Principal) async throws {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("modify_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to modify image \(id).")
        }
        guard image.tags.contains(tag) else { throw GlimpseError.notFound("Tag \(tag) not found.") }
        var changed = image
        changed.tags.removeAll { $0 == tag }
        try await catalog.updateImage(changed, expecting: image.status, unchangedSince: image.updatedAt)
    }

    static func isUUID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return false }
            } else {
                let hex = (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
                guard hex else { return false }
            }
        }
        return true
    }
}
