import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging
import NIOCore

/// Image data that starts outside Glimpse: a location registered as-is (v1
/// `x-image-meta-location`) or fetched once in the background (v1 `x-glance-api-copy-from`).
extension ImageService {
    /// The read-only store that reads `url` (http or https); nothing else may be named by a
    /// client, so no one can point an image at the server's own files.
    func externalStore(for url: String) throws -> any BlobStore {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw GlimpseError.badRequest("External image locations must be http:// or https:// URLs.")
        }
        guard let store = stores.first(where: { $0.capabilities.readOnly && $0.handles(location: url) }) else {
            throw GlimpseError.badRequest("No configured store reads \(url.prefix(while: { $0 != ":" })) locations.")
        }
        return store
    }

    /// Checks that the caller may point the queued image `id` at external data.
    func externalTarget(_ id: String, principal: Principal) async throws -> Image {
        let image = try await visibleImage(id, principal: principal)
        guard policy.canSetExternalData(image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to set an external location for image \(id).")
        }
        guard image.status == .queued else {
            throw GlimpseError.conflict("Image status must be queued to set its data; it is \(image.status.rawValue).")
        }
        guard image.diskFormat != nil, image.containerFormat != nil else {
            throw GlimpseError.badRequest("Properties disk_format, container_format must be set prior to saving data.")
        }
        return image
    }

    /// v1 `x-image-meta-location`: the data stays at `url`; the image becomes active with the
    /// size the source reports. A declared size must agree; a declared checksum is recorded.
    public func registerLocation(
        _ id: String, url: String, declaredSize: Int64?, checksum: String?, principal: Principal
    ) async throws -> Image {
        let image = try await externalTarget(id, principal: principal)
        let store = try externalStore(for: url)
        let size: Int64
        do {
            size = try await store.size(location: url)
        } catch let error as GlimpseError {
            throw GlimpseError(.badRequest, "The image location could not be used: \(error.message)", underlying: error)
        }
        if let declaredSize, declaredSize != size {
            throw GlimpseError.badRequest("The location holds \(size) bytes, not the declared \(declaredSize).")
        }
        return try await catalog.modifyImage(id: image.id, expecting: .queued) { active in
            active.status = .active
            active.size = size
            active.virtualSize = active.diskFormat == "raw" ? size : nil
            active.checksum = checksum?.lowercased()
            active.locations = [ImageLocation(url: url, metadataJSON: "{}")]
        }
    }

    /// v1 `x-glance-api-copy-from`: checks the request now, then copies the data from `url`
    /// into the default store (or `storeID`) in the background (queued → saving → active). A copy that fails,
    /// or whose data contradicts the declared size or checksum, kills the image with nothing kept.
    public func copyFrom(
        _ id: String, url: String, declaredSize: Int64?, expectedChecksum: String?, storeID: String? = nil,
        principal: Principal, jobs: BackgroundJobs
    ) async throws {
        _ = try await externalTarget(id, principal: principal)
        let source = try externalStore(for: url)
        let store = try uploadStore(storeID)
        let (saving, lease) = try await beginUpload(id, declaredSize: declaredSize, storeID: store.id, principal: principal)
        let service = self
        jobs.submit {
            do {
                _ = try await service.ingest(
                    saving, into: store, lease: lease, declaredSize: declaredSize, expectedChecksum: expectedChecksum,
                    failure: .killed, mismatch: .killed
                ) { feed in
                    try await source.read(location: url, range: nil, into: feed)
                }
                service.logger.info("copy-from finished", metadata: ["image": "\(id)"])
            } catch {
                service.logger.warning("copy-from failed; image killed", metadata: ["image": "\(id)", "error": "\(error)"])
            }
        }
    }
}
