import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging
import NIOCore

/// Interoperable import, so far its `copy-image` method: an active image's data copied into
/// more stores in the background, with Glance's import lock and progress properties.
///
/// The copy runs on `BackgroundJobs`, so it does not survive a restart; a stale lock left by a
/// crash is taken over by the next import. The durable task queue (issue 6) replaces this.
extension ImageService {
    static let importTaskKey = "os_glance_import_task"
    static let importingKey = "os_glance_importing_to_stores"
    static let failedKey = "os_glance_failed_import"

    /// The import request, decoded from `POST /v2/images/{id}/import`.
    public struct ImportRequest: Sendable {
        public var method: String
        public var stores: [String]?
        public var allStores: Bool
        public var allStoresMustSucceed: Bool

        public init(_ body: JSONValue) throws {
            guard let o = body.objectValue, let m = o["method"]?.objectValue, let name = m["name"]?.stringValue else {
                throw GlimpseError.badRequest("Import request requires a 'method' object with a 'name'.")
            }
            method = name
            if let s = o["stores"], !s.isNull {
                guard let list = s.arrayValue?.compactMap(\.stringValue), list.count == s.arrayValue?.count else {
                    throw GlimpseError.badRequest("'stores' must be a list of store identifiers.")
                }
                stores = list
            }
            if let a = o["all_stores"], !a.isNull {
                guard let b = a.boolValue else { throw GlimpseError.badRequest("'all_stores' must be a boolean.") }
                allStores = b
            } else {
                allStores = false
            }
            if let a = o["all_stores_must_succeed"], !a.isNull {
                guard let b = a.boolValue else { throw GlimpseError.badRequest("'all_stores_must_succeed' must be a boolean.") }
                allStoresMustSucceed = b
            } else {
                allStoresMustSucceed = true
            }
            if allStores, stores != nil {
                throw GlimpseError.badRequest("Use only one of 'stores' and 'all_stores'.")
            }
        }
    }

    /// `POST /v2/images/{id}/import`. Checks everything Glance checks before answering 202,
    /// then copies in the background.
    public func importImage(_ id: String, request: ImportRequest, principal: Principal, jobs: BackgroundJobs) async throws {
        guard configuration.enabledImportMethods.contains(request.method) else {
            throw GlimpseError.badRequest("Import method \(request.method) is not available at this site.")
        }
        let image = try await visibleImage(id, principal: principal)
        guard image.status == .active else {
            throw GlimpseError.conflict("Only images with status active can be targeted for copying")
        }
        guard policy.allows("copy_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to copy image \(id).")
        }
        if let holder = image.properties[Self.importTaskKey], !holder.isEmpty, !isStale(image) {
            throw GlimpseError.conflict("Image \(id) is already being imported by task \(holder).")
        }
        guard configuration.multiStore else {
            throw GlimpseError.badRequest("copy-image needs multiple stores (enabled_backends).")
        }
        let present = Set(image.locations.filter { $0.status == "active" }.compactMap(\.storeID))
        var targets: [String]
        if request.allStores {
            targets = configuration.storeDetails.filter { !$0.readOnly }.map(\.id).filter { !present.contains($0) }
            if targets.isEmpty { return }  // already everywhere
        } else {
            targets = request.stores ?? [defaultStore.id]
            for store in targets {
                guard let s = namedStore(store), !s.capabilities.readOnly else {
                    throw GlimpseError.conflict("Unknown scheme '\(store)' found in URI")
                }
                if present.contains(store) { throw GlimpseError.badRequest("Image is already present at store '\(store)'") }
            }
        }
        let task = UUID().uuidString.lowercased()
        var locked = image
        locked.properties[Self.importTaskKey] = task
        locked.properties[Self.importingKey] = targets.joined(separator: ",")
        locked.properties[Self.failedKey] = ""
        _ = try await catalog.updateImage(locked, expecting: .active)
        let service = self
        jobs.submit { [targets] in
            await service.copyImage(id, task: task, to: targets, allMustSucceed: request.allStoresMustSucceed)
        }
    }

    /// A lock whose holder cannot be running any more: this process keeps no record of it
    /// (the copy died with an earlier process) and it is older than an hour.
    func isStale(_ image: Image) -> Bool {
        now().timeIntervalSince(image.updatedAt) > 3600
    }

    /// Copies the image into each store in turn, updating the progress properties after each.
    func copyImage(_ id: String, task: String, to targets: [String], allMustSucceed: Bool) async {
        for target in targets {
            guard let store = namedStore(target) else { continue }
            var location: String?
            do {
                location = try await copyData(id, into: store)
            } catch {
                logger.warning("copy-image failed", metadata: ["image": "\(id)", "store": "\(target)", "error": "\(error)"])
            }
            let recorded = await updateImport(id, task: task) { image in
                image.properties[Self.importingKey] = Self.removing(target, from: image.properties[Self.importingKey])
                if let location {
                    image.locations.append(.stored(location, in: target))
                } else {
                    image.properties[Self.failedKey] = Self.adding(target, to: image.properties[Self.failedKey])
                }
            }
            if !recorded, let location { try? await store.delete(location: location) }
            if location == nil, allMustSucceed { break }
        }
        _ = await updateImport(id, task: task) { image in
            image.properties[Self.importTaskKey] = nil
            if let left = image.properties[Self.importingKey], !left.isEmpty, allMustSucceed {
                // Stores not tried after a failure count as failed too.
                for store in left.split(separator: ",") {
                    image.properties[Self.failedKey] = Self.adding(String(store), to: image.properties[Self.failedKey])
                }
                image.properties[Self.importingKey] = ""
            }
        }
    }

    /// Streams the image's data from its current locations into a staged write in `store`,
    /// checking the size; returns the new location.
    func copyData(_ id: String, into store: any BlobStore) async throws -> String {
        guard let image = try await catalog.image(id: id), image.status == .active else {
            throw GlimpseError.conflict("Image \(id) is no longer active.")
        }
        guard let download = try await prepareDownload(image) else { throw GlimpseError.conflict("Image \(id) has no data.") }
        let writer = try await store.makeWriter(imageID: id, expectedSize: download.size)
        do {
            var copied: Int64 = 0
            try await download.read(range: nil) { chunk in
                copied += Int64(chunk.readableBytes)
                try await writer.write(chunk)
            }
            guard copied == download.size else {
                throw GlimpseError(.unavailable, "The image data ended after \(copied) of \(download.size) bytes.")
            }
            return try await writer.commit()
        } catch {
            await writer.cancel()
            throw error
        }
    }

    /// Applies `change` to the image if it is still active and still locked by `task`.
    func updateImport(_ id: String, task: String, _ change: (inout Image) -> Void) async -> Bool {
        for _ in 0..<5 {
            do {
                guard var image = try await catalog.image(id: id), image.status == .active,
                      image.properties[Self.importTaskKey] == task
                else { return false }
                change(&image)
                _ = try await catalog.updateImage(image, expecting: .active)
                return true
            } catch {
                logger.info("import progress update retried", metadata: ["image": "\(id)", "error": "\(error)"])
            }
        }
        return false
    }

    static func removing(_ store: String, from list: String?) -> String {
        (list ?? "").split(separator: ",").map(String.init).filter { $0 != store }.joined(separator: ",")
    }

    static func adding(_ store: String, to list: String?) -> String {
        var items = (list ?? "").split(separator: ",").map(String.init)
        if !items.contains(store) { items.append(store) }
        return items.joined(separator: ",")
    }
}
