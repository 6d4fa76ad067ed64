import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore

/// The tasks API (`/v2/tasks`, deprecated in Glance but still served) and `GET
/// /v2/images/{id}/tasks`, plus the legacy `import` task that `POST /v2/tasks` creates.
extension ImageService {
    func checkTasksAccess(_ rule: String, principal: Principal) throws {
        guard policy.allows("tasks_api_access", principal: principal), policy.allows(rule, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to complete \(rule) action.")
        }
    }

    /// `GET /v2/tasks`: the caller's tasks (everyone's for admins), newest first by default.
    public func listTasks(_ query: TaskQuery, principal: Principal) async throws -> [ImageTask] {
        try checkTasksAccess("get_tasks", principal: principal)
        var query = query
        if !principal.isAdmin { query.owner = principal.projectID ?? "" }
        return try await catalog.listTasks(query)
    }

    /// `GET /v2/tasks/{id}`: 404 for tasks the caller may not see.
    public func showTask(_ id: String, principal: Principal) async throws -> ImageTask {
        try checkTasksAccess("get_task", principal: principal)
        guard let task = try await catalog.task(id: id), principal.isAdmin || task.owner == principal.projectID else {
            throw GlimpseError.notFound("Task with identifier \(id) not found")
        }
        return task
    }

    /// `GET /v2/images/{id}/tasks`: the image's tasks the caller may see (any image it may get).
    public func imageTasks(_ id: String, principal: Principal) async throws -> [ImageTask] {
        let image: Image
        do {
            image = try await visibleImage(id, principal: principal)
        } catch {
            throw GlimpseError.notFound("The resource could not be found.")
        }
        guard policy.allows("get_image", image, principal: principal) else { throw GlimpseError.notFound("The resource could not be found.") }
        return try await catalog.tasks(imageID: id).filter { principal.isAdmin || $0.owner.isEmpty || $0.owner == principal.projectID }
    }

    /// `POST /v2/tasks` (`type: import`): Glance's legacy import. The input names a URL
    /// (`import_from`, checked like web-download's), its format and the new image's
    /// properties; the task creates the image and downloads the data into it.
    public func createTask(_ body: JSONValue, principal: Principal, requestID: String? = nil) async throws -> ImageTask {
        try checkTasksAccess("add_task", principal: principal)
        guard let o = body.objectValue else { throw GlimpseError.badRequest("Body expected in request.") }
        for key in ["type", "input"] where o[key] == nil {
            throw GlimpseError.badRequest("Task '\(key)' is required")
        }
        for key in o.keys where !["type", "input"].contains(key) {
            throw GlimpseError.badRequest("Attribute '\(key)' is read-only.")
        }
        guard let type = o["type"]?.stringValue else { throw GlimpseError.badRequest("Invalid type value: it must be a string.") }
        guard ["import", "api_image_import", "location_import"].contains(type) else {
            throw GlimpseError.badRequest("Provided object does not match schema 'task': '\(type)' is not one of ['import', 'api_image_import', 'location_import']")
        }
        guard type == "import" else { throw GlimpseError.badRequest("Task type \(type) cannot be created through the tasks API.") }
        guard let input = o["input"]?.objectValue else {
            throw GlimpseError.badRequest("Provided object does not match schema 'task': input is not of type 'null', 'object'")
        }
        for key in ["import_from", "import_from_format", "image_properties"] where input[key] == nil {
            throw GlimpseError.badRequest("Input does not contain '\(key)' field")
        }
        guard let from = input["import_from"]?.stringValue else { throw GlimpseError.badRequest("'import_from' must be a string.") }
        guard input["image_properties"]?.objectValue != nil else { throw GlimpseError.badRequest("'image_properties' must be an object.") }
        try validateWebURI(from)
        let task = ImageTask(
            id: UUID().uuidString.lowercased(), type: "import", owner: principal.projectID ?? "", requestID: requestID,
            userID: principal.userID, input: .object(input), createdAt: now())
        try await catalog.createTask(task)
        taskSignal.signal()
        return task
    }

    /// Runs a legacy `import` task: creates the image (once; a resumed task reuses it), stages
    /// the download, writes it to the default store and activates the image.
    func runLegacyImport(_ task: ImageTask, progress: TaskProgress) async throws -> JSONValue {
        guard let staging else { throw GlimpseError(.unavailable, "No staging area is configured.") }
        guard let input = task.input?.objectValue, let from = input["import_from"]?.stringValue,
              let properties = input["image_properties"]?.objectValue
        else { throw GlimpseError.badRequest("The task's input is not a valid import request.") }
        let owner = Principal(projectID: task.owner.isEmpty ? nil : task.owner, userID: task.userID, roles: ["admin"])
        var image: Image
        if let id = task.result?.objectValue?["image_id"]?.stringValue, let existing = try await catalog.image(id: id) {
            image = existing
        } else {
            image = Image(id: UUID().uuidString.lowercased(), owner: owner.projectID, createdAt: now())
            for (key, value) in properties.pairs where key != "id" && key != "owner" {
                try attributes.set(key, to: value, on: &image, principal: owner)
            }
            try await catalog.createImage(image)
            var recorded = task
            var result = task.result?.objectValue ?? JSONObject()
            result["image_id"] = .string(image.id)
            recorded.result = .object(result)
            recorded.imageID = image.id
            try await catalog.updateTask(recorded, expecting: .processing)
        }
        guard image.status == .queued || image.status == .saving else {
            throw GlimpseError.conflict("Image \(image.id) is \(image.status.rawValue); the import cannot continue.")
        }
        try await downloadToStaging(image.id, from: from, staging: staging, progress: progress)
        guard let size = try await staging.stagedSize(image.id) else { throw GlimpseError.conflict("The staged data disappeared.") }
        if image.status == .queued {
            image = try await catalog.modifyImage(id: image.id, expecting: .queued) { $0.status = .saving }
        }
        let store = defaultStore
        _ = try await ingest(image, into: store, lease: nil, declaredSize: size, expectedChecksum: nil, failure: .queued, mismatch: .queued) { feed in
            try await staging.read(image.id) { chunk in try await feed(chunk) }
        }
        await staging.remove(image.id)
        return .object(JSONObject([("image_id", .string(image.id))]))
    }

    /// A failed legacy import leaves no image behind.
    func discardLegacyImage(_ id: String) async {
        await staging?.remove(id)
        guard let image = try? await catalog.image(id: id) else { return }
        try? await catalog.deleteImage(id: id, expecting: image.status)
        for location in image.locations { await deleteData(at: location) }
    }
}
