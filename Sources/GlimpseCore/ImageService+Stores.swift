import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging
import NIOCore

extension ImageService {
    // MARK: finding stores

    /// The store new data goes to: `storeID` (the `X-Image-Meta-Store` header) in multi-store
    /// mode, else the default. An unknown id is the client's mistake (400, as Glance).
    func uploadStore(_ storeID: String?) throws -> any BlobStore {
        guard configuration.multiStore, let storeID else { return defaultStore }
        guard let store = namedStore(storeID), !store.capabilities.readOnly else {
            throw GlimpseError.badRequest("Unknown scheme '\(storeID)' found in URI")
        }
        return store
    }

    /// A configured store by the id an operator gave it (hidden internal stores excluded).
    func namedStore(_ id: String) -> (any BlobStore)? {
        configuration.storeDetails.contains { $0.id == id } ? stores.first { $0.id == id } : nil
    }

    /// The store that holds `location`: the one its metadata names, else the first that
    /// recognises the URI (locations written before multi-store carry no store id).
    func store(for location: ImageLocation) -> (any BlobStore)? {
        if let id = location.storeID, let store = stores.first(where: { $0.id == id && $0.handles(location: location.url) }) {
            return store
        }
        return stores.first { $0.handles(location: location.url) }
    }

    func weight(of store: any BlobStore) -> Int {
        configuration.storeDetails.first { $0.id == store.id }?.weight ?? 0
    }

    // MARK: discovery

    /// `GET /v2/info/stores` and `/v2/info/stores/detail` (the latter needs `stores_info_detail`).
    public func storesInfo(detail: Bool, principal: Principal) throws -> [StoreDetail] {
        guard configuration.multiStore else { throw GlimpseError.notFound("Multi backend is not supported at this site.") }
        if detail, !policy.allows("stores_info_detail", principal: principal) {
            throw GlimpseError.forbidden("You are not authorized to see store details.")
        }
        return configuration.storeDetails
    }

    public var defaultStoreID: String { defaultStore.id }

    // MARK: deleting one copy

    /// `DELETE /v2/stores/{store}/{image}`: removes the image's data from one store, keeping
    /// the others. The last copy cannot be removed this way (delete the image instead).
    public func deleteFromStore(_ storeID: String, imageID: String, principal: Principal) async throws {
        guard configuration.multiStore else { throw GlimpseError.notFound("The resource could not be found.") }
        guard namedStore(storeID) != nil else {
            throw GlimpseError.conflict("The selected store \(storeID) is not available on this node.")
        }
        let image = try await visibleImage(imageID, principal: principal)
        guard policy.allows("get_image_location", image, principal: principal),
              policy.allows("delete_image_location", image, principal: principal)
        else {
            throw GlimpseError.forbidden("You are not authorized to remove image data from a store.")
        }
        guard image.status == .active else {
            throw GlimpseError.conflict("It's not allowed to remove image data from store if image status is not 'active'")
        }
        let active = image.locations.filter { $0.status == "active" }
        guard active.count > 1 else {
            throw GlimpseError.forbidden(
                "Cannot delete image data from the only store containing it. Consider deleting the image instead.")
        }
        guard let index = image.locations.firstIndex(where: { $0.status == "active" && $0.storeID == storeID }) else {
            throw GlimpseError.notFound("Image \(imageID) is not stored in store \(storeID).")
        }
        let removed = image.locations[index]
        try await catalog.modifyImage(id: imageID, expecting: .active) { image in
            guard image.locations.filter({ $0.status == "active" }).count > 1 else {
                throw GlimpseError.forbidden(
                    "Cannot delete image data from the only store containing it. Consider deleting the image instead.")
            }
            image.locations.removeAll { $0.url == removed.url }
        }
        await deleteData(at: removed)
    }

    // MARK: download

    /// `GET /v2/images/{id}/file`. Returns nil when the image has no data (Glance answers 204).
    /// Locations are tried by store weight (heaviest first); `prefer` (multi-store only) moves
    /// the named stores' copies to the front.
    public func prepareDownload(_ id: String, prefer: [String] = [], principal: Principal) async throws -> Download? {
        if !prefer.isEmpty {
            guard configuration.multiStore else {
                throw GlimpseError.badRequest("Store selection for download is not available when multiple backends are not enabled.")
            }
            for name in prefer where namedStore(name) == nil {
                throw GlimpseError.badRequest("Store '\(name)' is not configured.")
            }
        }
        let image = try await visibleImage(id, principal: principal)
        guard policy.canDownload(image, principal: principal) else {
            throw GlimpseError.forbidden("The requested image has been deactivated. Image data download is forbidden.")
        }
        if !prefer.isEmpty, !policy.allows("download_from_store", image, principal: principal) {
            throw GlimpseError.forbidden("You are not authorized to choose the store to download from.")
        }
        return try await prepareDownload(image, prefer: prefer)
    }

    /// The copies of `image`'s data in the order to try them, checked for a size; nil when the
    /// image has no data.
    func prepareDownload(_ image: Image, prefer: [String] = []) async throws -> Download? {
        guard image.hasData, image.status != .queued else { return nil }
        var sources: [Download.Source] = []
        for location in image.locations where location.status == "active" {
            guard let store = store(for: location) else { continue }
            sources.append(.init(store: store, location: location.url, weight: weight(of: store), preferred: prefer.contains(store.id)))
        }
        // Stable: preferred first, then by weight, then in catalog order.
        sources = sources.enumerated().sorted { a, b in
            if a.element.preferred != b.element.preferred { return a.element.preferred }
            if a.element.weight != b.element.weight { return a.element.weight > b.element.weight }
            return a.offset < b.offset
        }.map(\.element)
        guard !sources.isEmpty else { throw GlimpseError(.unavailable, "No store holding this image's data is configured.") }
        if let size = image.size { return Download(image: image, size: size, sources: sources, logger: logger) }
        var lastError: (any Error)?
        for (index, source) in sources.enumerated() {
            do {
                let size = try await source.store.size(location: source.location)
                return Download(image: image, size: size, sources: Array(sources[index...]), logger: logger)
            } catch {
                lastError = error
            }
        }
        throw lastError.map(Download.storeError) ?? GlimpseError(.unavailable, "The image data is unavailable.")
    }
}

/// What a download will send: found and checked before any byte goes out.
public struct Download: Sendable {
    public struct Source: Sendable {
        var store: any BlobStore
        var location: String
        var weight: Int
        var preferred: Bool
    }

    public var image: Image
    public var size: Int64
    let sources: [Source]
    let logger: Logger

    /// The client (or whatever consumes the bytes) failed: not a reason to try another store.
    struct SinkFailure: Error { let error: any Error }

    /// Streams `range` (or everything) into `sink`. When a store fails, before or during the
    /// transfer, the next copy continues from the first byte not yet sent, so the client gets
    /// every byte exactly once or, when no copy is left, an error after a short body.
    public func read(range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        let wanted = range ?? 0..<size
        var next = wanted.lowerBound
        var lastError: (any Error)?
        for source in sources {
            if next >= wanted.upperBound { return }
            do {
                let remaining: Range<Int64>? = next == 0 && range == nil ? nil : next..<wanted.upperBound
                try await source.store.read(location: source.location, range: remaining) { chunk in
                    var chunk = chunk
                    let room = wanted.upperBound - next
                    if Int64(chunk.readableBytes) > room { chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(room))! }
                    next += Int64(chunk.readableBytes)
                    do {
                        try await sink(chunk)
                    } catch {
                        throw SinkFailure(error: error)
                    }
                }
                if next >= wanted.upperBound { return }
                lastError = GlimpseError(.unavailable, "The image store returned less data than the image holds.")
            } catch let failure as SinkFailure {
                throw failure.error
            } catch {
                lastError = error
            }
            logger.warning(
                "image data read failed; trying the next location",
                metadata: ["image": "\(image.id)", "store": "\(source.store.id)", "sent": "\(next - wanted.lowerBound)", "error": "\(lastError!)"])
        }
        throw Self.storeError(lastError ?? GlimpseError(.unavailable, "The image data is unavailable."))
    }

    /// The whole image as an open file, for a zero-copy (sendfile) download: when the first copy
    /// lies in a `LocalFileBlobStore` and its file holds at least `size` bytes. Nil otherwise
    /// (then `read` streams the image, and falls back to other copies as it does). The caller
    /// sends the first `size` bytes and closes the file.
    public func openLocalFile() async -> LocalFile? {
        guard size > 0, let first = sources.first, let store = first.store as? any LocalFileBlobStore,
            let file = try? await store.openLocalFile(location: first.location)
        else { return nil }
        guard file.size >= size else {
            try? file.handle.close()
            return nil
        }
        return file
    }

    static func storeError(_ error: any Error) -> GlimpseError {
        (error as? GlimpseError) ?? GlimpseError(.unavailable, "The image store is unavailable.", underlying: error)
    }
}
