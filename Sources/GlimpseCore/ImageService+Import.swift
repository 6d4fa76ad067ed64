import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging
import NIOCore

/// Interoperable import: `POST /v2/images/{id}/import` checks what Glance checks, takes the
/// import lock and queues an `api_image_import` task; a `TaskWorker` (on any node sharing the
/// catalog) runs it: data from staging (glance-direct), the web (web-download) or the image's
/// other copies (copy-image), through the plugins, into each target store.
extension ImageService {
    static let importTaskKey = "os_glance_import_task"
    static let importingKey = "os_glance_importing_to_stores"
    static let failedKey = "os_glance_failed_import"
    static let stageHostKey = "os_glance_stage_host"
    static let importTaskType = "api_image_import"

    /// The import request, decoded from `POST /v2/images/{id}/import`.
    public struct ImportRequest: Sendable {
        public var body: JSONValue
        public var method: String
        public var uri: String?
        public var stores: [String]?
        public var allStores: Bool
        public var allStoresMustSucceed: Bool

        public init(_ body: JSONValue) throws {
            guard let o = body.objectValue, let m = o["method"]?.objectValue, let name = m["name"]?.stringValue else {
                throw GlimpseError.badRequest("Import request requires a 'method' object with a 'name'.")
            }
            self.body = body
            method = name
            if let u = m["uri"], !u.isNull {
                guard let s = u.stringValue else { throw GlimpseError.badRequest("'uri' must be a string.") }
                uri = s
            }
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
            if method == "web-download", uri == nil {
                throw GlimpseError.badRequest("web-download requires a 'uri' in 'method'.")
            }
        }

        var methodObject: JSONObject { body.objectValue?["method"]?.objectValue ?? JSONObject() }
    }

    // MARK: the request

    /// `POST /v2/images/{id}/import`: Glance's checks in Glance's order, then the lock and the
    /// task row. Returns the task (202 for the caller).
    @discardableResult
    public func importImage(
        _ id: String, request: ImportRequest, storeHeader: String? = nil, principal: Principal, requestID: String? = nil
    ) async throws -> ImageTask? {
        let method = request.method
        guard configuration.enabledImportMethods.contains(method) else {
            throw GlimpseError.badRequest("Import method \(method) is not available at this site.")
        }
        let image = try await visibleImage(id, principal: principal)
        if image.status == .active, method != "copy-image" {
            throw GlimpseError.conflict("Image with status active cannot be target for import")
        }
        if image.status != .active, method == "copy-image" {
            throw GlimpseError.conflict("Only images with status active can be targeted for copying")
        }
        if image.status != .queued, method == "web-download" || method == "glance-download" {
            throw GlimpseError.conflict("Image needs to be in 'queued' state to use '\(method)' method")
        }
        if image.status != .uploading, method == "glance-direct" {
            throw GlimpseError.conflict("Image needs to be staged before 'glance-direct' method can be used")
        }
        guard image.containerFormat != nil else { throw GlimpseError.conflict("'container_format' needs to be set before import") }
        guard image.diskFormat != nil else { throw GlimpseError.conflict("'disk_format' needs to be set before import") }
        if method == "glance-download" {
            let m = request.methodObject
            guard m["glance_region"]?.stringValue != nil else {
                throw GlimpseError.badRequest("'glance_region' needs to be set for glance-download import method")
            }
            guard let remote = m["glance_image_id"]?.stringValue else {
                throw GlimpseError.badRequest("'glance_image_id' needs to be set for glance-download import method")
            }
            guard Self.isUUID(remote) else { throw GlimpseError.badRequest("Remote image id does not look like a UUID: \(remote)") }
        }
        let rule = method == "copy-image" ? "copy_image" : "modify_image"
        guard policy.allows(rule, image, principal: principal) else {
            throw GlimpseError.forbidden(method == "copy-image"
                ? "You are not authorized to copy image \(id)." : "You are not authorized to modify image \(id).")
        }
        var stolenFrom: ImageTask?
        var heldLock: String?
        if let holder = image.properties[Self.importTaskKey], !holder.isEmpty {
            stolenFrom = try await bustableLock(holder)
            heldLock = holder
        }
        var targets = try importTargets(request, storeHeader: storeHeader)
        if method == "copy-image" {
            let present = Set(image.locations.filter { $0.status == "active" }.compactMap(\.storeID))
            if request.allStores {
                targets.removeAll { present.contains($0) }
                if targets.isEmpty { return nil }  // already everywhere
            } else if let there = targets.first(where: { present.contains($0) }) {
                throw GlimpseError.badRequest("Image is already present at store '\(there)'")
            }
        }
        if !request.allStoresMustSucceed, !configuration.multiStore {
            throw GlimpseError.badRequest("All_stores_must_succeed can only be set with enabled_backends")
        }
        if method == "web-download", let uri = request.uri {
            try validateWebURI(uri)
        }

        let t = now()
        var input = JSONObject()
        input["image_id"] = .string(id)
        var body = request.body.objectValue ?? JSONObject()
        if configuration.importPlugins.contains("inject_image_metadata") {
            // Whether the caller's roles exempt the image, decided now (the task runs without them).
            body["glimpse_inject_metadata"] = .bool(principal.roles.isDisjoint(with: configuration.injectIgnoreRoles))
        }
        input["import_req"] = .object(body)
        input["backend"] = configuration.multiStore ? .array(targets.map { .string($0) }) : .array([.null])
        let task = ImageTask(
            id: UUID().uuidString.lowercased(), type: Self.importTaskType, owner: principal.projectID ?? image.owner ?? "",
            imageID: id, requestID: requestID, userID: principal.userID, input: .object(input), createdAt: t)
        guard try await catalog.swapImageProperty(imageID: id, key: Self.importTaskKey, expecting: heldLock, to: task.id) else {
            throw GlimpseError.conflict("New operation on image '\(id)' is not permitted as prior operation is still in progress")
        }
        do {
            try await catalog.createTask(task)
            try await setImportProgress(id, task: task.id, targets: targets, stale: stolenFrom)
        } catch {
            _ = try? await catalog.swapImageProperty(imageID: id, key: Self.importTaskKey, expecting: task.id, to: nil)
            throw error
        }
        taskSignal.signal()
        return task
    }

    /// The stores an import writes to: `stores`, `all_stores`, the `X-Image-Meta-Store` header,
    /// or the default store. Unknown stores are a conflict, as in Glance.
    func importTargets(_ request: ImportRequest, storeHeader: String?) throws -> [String] {
        guard configuration.multiStore else { return [defaultStore.id] }
        let writable = configuration.storeDetails.filter { !$0.readOnly }.map(\.id)
        if request.allStores { return writable }
        let named = request.stores ?? storeHeader.map { [$0] } ?? [defaultStore.id]
        for store in named where !writable.contains(store) {
            throw GlimpseError.conflict("Unknown scheme '\(store)' found in URI")
        }
        return named
    }

    /// Whether the lock held by task `holder` may be taken over: the task is gone, or has not
    /// moved for an hour (two while still pending). Its task is failed ("Expired lock
    /// preempted"); a lock that is still valid is a conflict.
    func bustableLock(_ holder: String) async throws -> ImageTask? {
        guard let task = try await catalog.task(id: holder) else { return nil }
        var expiry: TimeInterval = 3600
        if task.status == .pending { expiry *= 2 }
        guard now().timeIntervalSince(task.updatedAt) >= expiry else {
            throw GlimpseError.conflict("Image has active task")
        }
        if !task.status.isFinal {
            var failed = task
            failed.status = .failure
            failed.message = "Expired lock preempted"
            failed.expiresAt = now().addingTimeInterval(configuration.taskTimeToLive)
            do {
                try await catalog.updateTask(failed, expecting: task.status)
            } catch {
                throw GlimpseError.conflict("Image has active task")
            }
        }
        return task
    }

    /// Records the stores an import is about to write to, after clearing what a preempted task left.
    func setImportProgress(_ id: String, task: String, targets: [String], stale: ImageTask?) async throws {
        _ = await updateImport(id, task: task) { image in
            if let stale, let backends = stale.input?.objectValue?["backend"]?.arrayValue {
                for store in backends.compactMap(\.stringValue) {
                    image.properties[Self.importingKey] = Self.removing(store, from: image.properties[Self.importingKey])
                    image.properties[Self.failedKey] = Self.removing(store, from: image.properties[Self.failedKey])
                }
            }
            if configuration.multiStore {
                image.properties[Self.importingKey] = targets.joined(separator: ",")
                image.properties[Self.failedKey] = ""
            }
        }
    }

    // MARK: running a task

    /// Runs a claimed task to its end and records the outcome. Throws only `CancellationError`
    /// (the node is shutting down or lost the claim; the task is left for another run).
    public func runTask(_ task: ImageTask, progress: TaskProgress) async throws {
        if task.attempts > configuration.taskMaxAttempts {
            let reason = "The task was interrupted \(task.attempts - 1) times (the node running it stopped) and is not retried again."
            await abandonTask(task, reason: reason)
            return
        }
        do {
            let result: JSONValue?
            switch task.type {
            case Self.importTaskType: result = try await runImport(task, progress: progress)
            case "import": result = try await runLegacyImport(task, progress: progress)
            default: throw GlimpseError.badRequest("Task type \(task.type) is not supported.")
            }
            try Task.checkCancellation()
            var done = task
            done.status = .success
            done.result = result
            done.message = ""
            done.expiresAt = now().addingTimeInterval(configuration.taskTimeToLive)
            try? await catalog.updateTask(done, expecting: .processing)
            logger.info("task succeeded", metadata: ["task": "\(task.id)"])
        } catch {
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            await abandonTask(task, reason: Self.reason(error))
        }
    }

    /// The message a failed task records: a `GlimpseError`'s client-safe text, nothing internal.
    static func reason(_ error: any Error) -> String {
        (error as? GlimpseError)?.message ?? "The import failed unexpectedly."
    }

    /// Fails the task with `reason` and undoes what it did to its image.
    func abandonTask(_ task: ImageTask, reason: String) async {
        logger.warning("task failed", metadata: ["task": "\(task.id)", "reason": "\(reason)"])
        if task.type == Self.importTaskType, let id = task.imageID {
            await revertImport(id, task: task)
        } else if task.type == "import", let id = task.result?.objectValue?["image_id"]?.stringValue {
            await discardLegacyImage(id)
        }
        var failed = task
        failed.status = .failure
        failed.message = reason
        failed.result = nil
        failed.expiresAt = now().addingTimeInterval(configuration.taskTimeToLive)
        do {
            try await catalog.updateTask(failed, expecting: .processing)
        } catch {
            logger.warning("could not record the task's failure", metadata: ["task": "\(task.id)", "error": "\(error)"])
        }
    }

    /// Gives a task back to the queue (the node is shutting down): `processing → pending`, with
    /// this attempt not counted.
    public func releaseTask(_ task: ImageTask) async {
        var back = task
        back.status = .pending
        var result = task.result?.objectValue ?? JSONObject()
        result["glimpse_attempts"] = .int(Int64(max(0, task.attempts - 1)))
        back.result = .object(result)
        _ = try? await catalog.updateTask(back, expecting: .processing)
    }

    /// Runs an `api_image_import` task; returns its result (`{"image_id": …}`).
    func runImport(_ task: ImageTask, progress: TaskProgress) async throws -> JSONValue {
        guard let input = task.input?.objectValue, let id = input["image_id"]?.stringValue ?? task.imageID,
              let request = input["import_req"], let method = request.objectValue?["method"]?.objectValue?["name"]?.stringValue
        else {
            throw GlimpseError.badRequest("The task's input is not a valid import request.")
        }
        let allMustSucceed = request.objectValue?["all_stores_must_succeed"]?.boolValue ?? true
        let backends = input["backend"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let targets = backends.isEmpty ? [defaultStore.id] : backends
        guard let image = try await catalog.image(id: id) else { throw GlimpseError.notFound("The image was deleted before its import finished.") }
        if image.properties[Self.importTaskKey] != task.id, task.attempts > 1, image.properties[Self.importTaskKey] == nil,
            image.status == .active,
            method != "copy-image" || targets.allSatisfy({ t in image.locations.contains { $0.storeID == t } })
        {
            // An earlier attempt finished the import (the image is active and unlocked) but its
            // node died before it could record the task's success.
            return .object(JSONObject([("image_id", .string(id))]))
        }
        guard image.properties[Self.importTaskKey] == task.id else {
            throw GlimpseError.conflict("The image's import lock is held by another task.")
        }
        if method == "copy-image" {
            try await copyImage(id, task: task.id, to: targets, allMustSucceed: allMustSucceed, progress: progress)
        } else {
            try await importData(image, task: task, method: method, request: request, targets: targets,
                                 allMustSucceed: allMustSucceed, progress: progress)
        }
        return .object(JSONObject([("image_id", .string(id))]))
    }

    /// glance-direct, web-download and glance-download: staged data (staged by the client, or
    /// downloaded now), through the plugins, into each target store; then the image is active.
    func importData(
        _ image: Image, task: ImageTask, method: String, request: JSONValue, targets: [String], allMustSucceed: Bool,
        progress: TaskProgress
    ) async throws {
        guard let staging else { throw GlimpseError(.unavailable, "No staging area is configured.") }
        let id = image.id
        var image = image
        if image.status != .importing {
            let expected: ImageStatus = method == "glance-direct" ? .uploading : .queued
            guard image.status == expected else {
                throw GlimpseError.conflict("Image \(id) is \(image.status.rawValue); the \(method) import needs it \(expected.rawValue).")
            }
            image = try await catalog.modifyImage(id: id, expecting: expected) { $0.status = .importing }
        }
        switch method {
        case "glance-direct":
            guard try await staging.stagedSize(id) != nil else {
                throw GlimpseError.conflict("Image \(id) has no staged data to import.")
            }
        case "web-download":
            guard let uri = request.objectValue?["method"]?.objectValue?["uri"]?.stringValue else {
                throw GlimpseError.badRequest("web-download requires a 'uri'.")
            }
            try await downloadToStaging(id, from: uri, staging: staging, progress: progress)
        case "glance-download":
            try await glanceDownloadToStaging(image, request: request, staging: staging, progress: progress)
        default:
            throw GlimpseError.badRequest("Import method \(method) is not supported.")
        }
        let inject = request.objectValue?["glimpse_inject_metadata"]?.boolValue ?? true
        if configuration.importPlugins.contains(where: { $0 == "image_decompression" || $0 == "image_conversion" }) {
            // Plugins work on a file: with shared staging, on a node-local copy.
            image = try await staging.withLocalFile(id) { local in
                try await runPlugins(on: image, staging: local, progress: progress, injecting: inject)
            }
        } else {
            image = try await runPlugins(on: image, staging: staging, progress: progress, injecting: inject)
        }
        guard let stagedSize = try await staging.stagedSize(id) else { throw GlimpseError.conflict("The staged data disappeared.") }

        var written: [(store: String, data: StoredData)] = []
        for target in targets {
            try Task.checkCancellation()
            guard let store = namedStore(target) ?? (target == defaultStore.id ? defaultStore : nil) else {
                throw GlimpseError.conflict("Unknown scheme '\(target)' found in URI")
            }
            do {
                let data = try await writeData(image, into: store, declaredSize: stagedSize, expectedChecksum: nil) { feed in
                    var copied: Int64 = 0
                    var reported: Int64 = 0
                    try await staging.read(id) { chunk in
                        try await feed(chunk)
                        copied += Int64(chunk.readableBytes)
                        if copied - reported >= 1 << 24 || copied == stagedSize {
                            reported = copied
                            progress.report("Copied \(copied >> 20) MiB of \(stagedSize >> 20) MiB to \(target)")
                        }
                    }
                }
                if let first = written.first?.data, first.hashValue != data.hashValue {
                    try? await store.delete(location: data.location)
                    throw GlimpseError.conflict("The staged data changed while it was being imported.")
                }
                written.append((target, data))
                _ = await updateImport(id, task: task.id, status: .importing) { image in
                    image.properties[Self.importingKey] = Self.removing(target, from: image.properties[Self.importingKey])
                }
            } catch {
                if Task.isCancelled || error is CancellationError {
                    for w in written { await deleteData(at: .stored(w.data.location, in: w.store)) }
                    throw CancellationError()
                }
                logger.warning("import to a store failed", metadata: ["image": "\(id)", "store": "\(target)", "error": "\(error)"])
                _ = await updateImport(id, task: task.id, status: .importing) { image in
                    image.properties[Self.importingKey] = Self.removing(target, from: image.properties[Self.importingKey])
                    image.properties[Self.failedKey] = Self.adding(target, to: image.properties[Self.failedKey])
                }
                if allMustSucceed {
                    for w in written { await deleteData(at: .stored(w.data.location, in: w.store)) }
                    throw error
                }
            }
        }
        guard let first = written.first?.data else {
            throw GlimpseError(.unavailable, "The image could not be imported to any store.")
        }
        let locations = written.map { ImageLocation.stored($0.data.location, in: $0.store) }
        let activated = await updateImport(id, task: task.id, status: .importing, to: .active) { image in
            first.apply(to: &image)
            image.locations = locations
            image.properties[Self.importTaskKey] = nil
            image.properties[Self.importingKey] = nil
            image.properties[Self.stageHostKey] = nil
            if !configuration.multiStore { image.properties[Self.failedKey] = nil }
        }
        guard activated else {
            for location in locations { await deleteData(at: location) }
            throw GlimpseError(.gone, "Image \(id) was deleted or changed while it was being imported.")
        }
        await staging.remove(id)
    }

    /// After a failed import: the image goes back to `queued` (as in Glance) without data or
    /// lock, the stores not done are recorded in `os_glance_failed_import`, and the staged
    /// data is removed. A copy-image failure leaves the active image as it was, unlocked.
    func revertImport(_ id: String, task: ImageTask) async {
        let method = task.input?.objectValue?["import_req"]?.objectValue?["method"]?.objectValue?["name"]?.stringValue
        let multiStore = configuration.multiStore
        let taskID = task.id
        do {
            // In one transaction with the image held, so nothing changed meanwhile is written back.
            let before = try await catalog.image(id: id)
            let after = try await catalog.modifyImage(id: id, expecting: nil) { image in
                guard image.properties[Self.importTaskKey] == taskID else { throw ImportLockLost() }
                let previous = image.status
                image.properties[Self.importTaskKey] = nil
                let left = (image.properties[Self.importingKey] ?? "").split(separator: ",").map(String.init)
                if multiStore {
                    for store in left { image.properties[Self.failedKey] = Self.adding(store, to: image.properties[Self.failedKey]) }
                }
                image.properties[Self.importingKey] = multiStore ? "" : nil
                if method != "copy-image", previous == .importing || previous == .uploading || previous == .queued {
                    image.status = .queued
                    image.clearData()
                    image.properties[Self.stageHostKey] = nil
                }
            }
            // Data the reverted image no longer points at (written before the failure).
            let kept = Set(after.locations.map(\.url))
            for location in (before?.locations ?? []) where !kept.contains(location.url) { await deleteData(at: location) }
        } catch is ImportLockLost {
        } catch {
            logger.info("import revert found the image gone or changed", metadata: ["image": "\(id)", "error": "\(error)"])
        }
        if method != "copy-image" { await staging?.remove(id) }
    }

    // MARK: copy-image

    /// Copies the active image into each store not yet done (`os_glance_importing_to_stores`
    /// says which remain, so a resumed task continues where the last one stopped).
    func copyImage(_ id: String, task: String, to targets: [String], allMustSucceed: Bool, progress: TaskProgress) async throws {
        guard let image = try await catalog.image(id: id) else { throw GlimpseError.notFound("The image was deleted.") }
        let pending = Set((image.properties[Self.importingKey] ?? "").split(separator: ",").map(String.init))
        var failures = 0
        for target in targets where pending.contains(target) {
            try Task.checkCancellation()
            guard let store = namedStore(target) else { continue }
            var location: String?
            do {
                location = try await copyData(id, into: store) { copied, total in
                    progress.report("Copied \(copied >> 20) MiB of \(total >> 20) MiB to \(target)")
                }
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                logger.warning("copy-image failed", metadata: ["image": "\(id)", "store": "\(target)", "error": "\(error)"])
            }
            let copied = location
            let recorded = await updateImport(id, task: task) { image in
                image.properties[Self.importingKey] = Self.removing(target, from: image.properties[Self.importingKey])
                if let location = copied {
                    image.locations.append(.stored(location, in: target))
                } else {
                    image.properties[Self.failedKey] = Self.adding(target, to: image.properties[Self.failedKey])
                }
            }
            if !recorded, let location { try? await store.delete(location: location) }
            if location == nil {
                failures += 1
                if allMustSucceed { break }
            }
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
        if failures > 0, allMustSucceed {
            let stores = failures == 1 ? "a store" : "\(failures) stores"
            throw GlimpseError(.unavailable, "Copying the image to \(stores) failed: see os_glance_failed_import.")
        }
    }

    /// Streams the image's data from its current locations into a staged write in `store`,
    /// checking the size; returns the new location.
    func copyData(_ id: String, into store: any BlobStore, progress: (Int64, Int64) -> Void = { _, _ in }) async throws -> String {
        guard let image = try await catalog.image(id: id), image.status == .active else {
            throw GlimpseError.conflict("Image \(id) is no longer active.")
        }
        guard let download = try await prepareDownload(image) else { throw GlimpseError.conflict("Image \(id) has no data.") }
        let writer = try await store.makeWriter(imageID: id, expectedSize: download.size)
        do {
            var copied: Int64 = 0
            var reported: Int64 = 0
            try await download.read(range: nil) { chunk in
                copied += Int64(chunk.readableBytes)
                try await writer.write(chunk)
                if copied - reported >= 1 << 24 || copied == download.size {
                    reported = copied
                    progress(copied, download.size)
                }
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

    /// Applies `change` to the image if it is still `status` and still locked by `task`,
    /// moving it to `to` if given.
    func updateImport(
        _ id: String, task: String, status: ImageStatus = .active, to target: ImageStatus? = nil,
        _ change: @escaping @Sendable (inout Image) -> Void
    ) async -> Bool {
        for _ in 0..<5 {
            do {
                try await catalog.modifyImage(id: id, expecting: status) { image in
                    guard image.properties[Self.importTaskKey] == task else { throw ImportLockLost() }
                    change(&image)
                    if let target { image.status = target }
                }
                return true
            } catch is ImportLockLost {
                return false
            } catch let error as GlimpseError where error.code == .notFound || error.code == .conflict {
                return false
            } catch {
                logger.info("import progress update retried", metadata: ["image": "\(id)", "error": "\(error)"])
            }
        }
        return false
    }

    /// The image no longer names this task as its importer.
    struct ImportLockLost: Error {}

    static func removing(_ store: String, from list: String?) -> String {
        (list ?? "").split(separator: ",").map(String.init).filter { $0 != store }.joined(separator: ",")
    }

    static func adding(_ store: String, to list: String?) -> String {
        var items = (list ?? "").split(separator: ",").map(String.init)
        if !items.contains(store) { items.append(store) }
        return items.joined(separator: ",")
    }
}
