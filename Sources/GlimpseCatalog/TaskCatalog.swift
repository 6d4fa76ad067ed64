import Foundation
import GlimpseDomain

/// Glance's `tasks` and `task_info` tables: the durable queue imports run from.
///
/// Contract (checked by `TaskCatalogConformanceTests`):
/// - `updateTask(_:expecting:)` is a compare-and-swap on `status`, like images;
/// - `claimTask` hands one task to exactly one caller: a `pending` one, or a `processing` one
///   whose heartbeat (`updated_at`) is older than `staleBefore` (its node died); the claim
///   sets `processing`, refreshes the heartbeat and counts the attempt;
/// - `heartbeat` refreshes a `processing` task and reports whether it is still one;
/// - expired tasks (`expires_at` in the past) are soft-deleted and no longer listed or found.
public protocol TaskCatalog: Sendable {
    func createTask(_ task: ImageTask) async throws
    func task(id: String) async throws -> ImageTask?
    func listTasks(_ query: TaskQuery) async throws -> [ImageTask]
    /// The image's tasks, newest first.
    func tasks(imageID: String) async throws -> [ImageTask]
    @discardableResult
    func updateTask(_ task: ImageTask, expecting status: TaskStatus) async throws -> ImageTask
    func claimTask(types: [String], staleBefore: Date) async throws -> ImageTask?
    /// Refreshes the heartbeat of a `processing` task (and its message, when given); false when
    /// the task is no longer `processing` or another claim (a later `attempt`) took it over.
    func heartbeat(taskID: String, attempt: Int, message: String?) async throws -> Bool
    /// Soft-deletes tasks whose `expires_at` has passed; returns how many.
    @discardableResult
    func purgeExpiredTasks() async throws -> Int
    /// The import lock: sets (`to: nil` removes) one image property only if its value is still
    /// `expecting` (nil: absent); false, changing nothing, otherwise.
    func swapImageProperty(imageID: String, key: String, expecting old: String?, to new: String?) async throws -> Bool
}

/// What the image service needs from a catalog: images, the task queue and write leases.
public typealias Catalog = ImageCatalog & TaskCatalog & WriteLeaseCatalog

extension SQLCatalog: TaskCatalog {
    static let taskColumns =
        "tasks.id, tasks.type, tasks.status, tasks.owner, tasks.expires_at, tasks.created_at, tasks.updated_at, tasks.image_id, tasks.request_id, tasks.user_id, task_info.input, task_info.result, task_info.message"
    static let taskFrom = "tasks LEFT JOIN task_info ON task_info.task_id = tasks.id"

    public func createTask(_ task: ImageTask) async throws {
        try await db.withTransaction { tx in
            guard try await tx.query("SELECT id FROM tasks WHERE id = ?", [.text(task.id)]).isEmpty else {
                throw GlimpseError.conflict("A task with identifier \(task.id) already exists")
            }
            _ = try await tx.query(
                "INSERT INTO tasks (id, type, status, owner, expires_at, created_at, updated_at, deleted_at, deleted, image_id, request_id, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [.text(task.id), .text(task.type), .text(task.status.rawValue), .text(task.owner), .optional(task.expiresAt),
                 .date(task.createdAt), .date(task.updatedAt), .null, .bool(false), .optional(task.imageID),
                 .optional(task.requestID), .optional(task.userID)])
            _ = try await tx.query(
                "INSERT INTO task_info (task_id, input, result, message) VALUES (?, ?, ?, ?)",
                [.text(task.id), .optional(task.input?.serialized()), .optional(task.result?.serialized()), .text(task.message)])
        }
    }

    public func task(id: String) async throws -> ImageTask? {
        try await purgeExpiredTasks()
        let rows = try await db.query(
            "SELECT \(Self.taskColumns) FROM \(Self.taskFrom) WHERE tasks.id = ? AND tasks.deleted = ?", [.text(id), .bool(false)])
        return rows.first.flatMap(Self.decodeTask)
    }

    public func tasks(imageID: String) async throws -> [ImageTask] {
        try await purgeExpiredTasks()
        let rows = try await db.query(
            "SELECT \(Self.taskColumns) FROM \(Self.taskFrom) WHERE tasks.image_id = ? AND tasks.deleted = ? ORDER BY tasks.created_at DESC, tasks.id DESC",
            [.text(imageID), .bool(false)])
        return rows.compactMap(Self.decodeTask)
    }

    public func listTasks(_ query: TaskQuery) async throws -> [ImageTask] {
        try await purgeExpiredTasks()
        var conditions = ["tasks.deleted = ?"]
        var binds: [SQLValue] = [.bool(false)]
        if let owner = query.owner {
            conditions.append("tasks.owner = ?")
            binds.append(.text(owner))
        }
        if let status = query.status {
            conditions.append("tasks.status = ?")
            binds.append(.text(status.rawValue))
        }
        if let type = query.type {
            conditions.append("tasks.type = ?")
            binds.append(.text(type))
        }
        let key = Self.taskSortExpression(query.sortKey)
        let dir = query.ascending ? "ASC" : "DESC"
        if let marker = query.marker {
            let rows = try await db.query(
                "SELECT \(Self.taskColumns) FROM \(Self.taskFrom) WHERE tasks.id = ? AND tasks.deleted = ?", [.text(marker), .bool(false)])
            guard let row = rows.first, let m = Self.decodeTask(row) else {
                throw GlimpseError.badRequest("Task with identifier \(marker) not found")
            }
            let op = query.ascending ? ">" : "<"
            conditions.append("(\(key), tasks.created_at, tasks.id) \(op) (?, ?, ?)")
            binds += [Self.taskSortValue(query.sortKey, of: m), .date(m.createdAt), .text(m.id)]
        }
        binds.append(.int(Int64(query.limit)))
        let rows = try await db.query(
            "SELECT \(Self.taskColumns) FROM \(Self.taskFrom) WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(key) \(dir), tasks.created_at \(dir), tasks.id \(dir) LIMIT ?",
            binds)
        return rows.compactMap(Self.decodeTask)
    }

    public func updateTask(_ task: ImageTask, expecting status: TaskStatus) async throws -> ImageTask {
        var task = task
        task.updatedAt = now()
        let stored = task
        try await db.withTransaction { tx in
            let changed = try await tx.query(
                "UPDATE tasks SET status = ?, owner = ?, expires_at = ?, updated_at = ?, image_id = ? WHERE id = ? AND deleted = ? AND status = ? RETURNING id",
                [.text(stored.status.rawValue), .text(stored.owner), .optional(stored.expiresAt), .date(stored.updatedAt),
                 .optional(stored.imageID), .text(stored.id), .bool(false), .text(status.rawValue)])
            guard !changed.isEmpty else {
                let rows = try await tx.query("SELECT status FROM tasks WHERE id = ? AND deleted = ?", [.text(stored.id), .bool(false)])
                guard let current = rows.first?["status"].string else { throw GlimpseError.notFound("Task \(stored.id) not found.") }
                throw GlimpseError.conflict("Task status transition conflict: the task is now \(current).")
            }
            _ = try await tx.query(
                "UPDATE task_info SET input = ?, result = ?, message = ? WHERE task_id = ?",
                [.optional(stored.input?.serialized()), .optional(stored.result?.serialized()), .text(stored.message), .text(stored.id)])
        }
        return stored
    }

    public func claimTask(types: [String], staleBefore: Date) async throws -> ImageTask? {
        let t = now()
        return try await db.withTransaction { tx -> ImageTask? in
            let marks = Array(repeating: "?", count: types.count).joined(separator: ", ")
            let candidates = try await tx.query(
                "SELECT tasks.id FROM tasks WHERE tasks.deleted = ? AND tasks.type IN (\(marks)) AND (tasks.status = ? OR (tasks.status = ? AND tasks.updated_at < ?)) ORDER BY tasks.created_at, tasks.id LIMIT 1\(tx.dialect.forUpdateSkipLocked)",
                [.bool(false)] + types.map(SQLValue.text) + [.text("pending"), .text("processing"), .date(staleBefore)])
            guard let id = candidates.first?["id"].string else { return nil }
            let claimed = try await tx.query(
                "UPDATE tasks SET status = ?, updated_at = ? WHERE id = ? AND deleted = ? AND (status = ? OR (status = ? AND updated_at < ?)) RETURNING id",
                [.text("processing"), .date(t), .text(id), .bool(false), .text("pending"), .text("processing"), .date(staleBefore)])
            guard !claimed.isEmpty else { return nil }
            let rows = try await tx.query("SELECT \(Self.taskColumns) FROM \(Self.taskFrom) WHERE tasks.id = ?", [.text(id)])
            guard var task = rows.first.flatMap(Self.decodeTask) else { return nil }
            var result = task.result?.objectValue ?? JSONObject()
            result["glimpse_attempts"] = .int(Int64(task.attempts + 1))
            task.result = .object(result)
            _ = try await tx.query("UPDATE task_info SET result = ? WHERE task_id = ?", [.text(task.result!.serialized()), .text(id)])
            return task
        }
    }

    public func heartbeat(taskID: String, attempt: Int, message: String?) async throws -> Bool {
        try await db.withTransaction { tx in
            // Held until commit, so a takeover cannot slip between the attempt check and the update.
            _ = try await tx.query("SELECT id FROM tasks WHERE id = ?\(tx.dialect.forUpdate)", [.text(taskID)])
            let info = try await tx.query("SELECT result FROM task_info WHERE task_id = ?", [.text(taskID)])
            let result = info.first?["result"].string.flatMap { try? JSONValue.parse(Array($0.utf8)) }
            guard (result?.objectValue?["glimpse_attempts"]?.intValue).map(Int.init) == attempt else { return false }
            let changed = try await tx.query(
                "UPDATE tasks SET updated_at = ? WHERE id = ? AND deleted = ? AND status = ? RETURNING id",
                [.date(self.now()), .text(taskID), .bool(false), .text("processing")])
            guard !changed.isEmpty else { return false }
            if let message {
                _ = try await tx.query("UPDATE task_info SET message = ? WHERE task_id = ?", [.text(message), .text(taskID)])
            }
            return true
        }
    }

    public func purgeExpiredTasks() async throws -> Int {
        let t = now()
        let rows = try await db.query(
            "UPDATE tasks SET deleted = ?, deleted_at = ? WHERE deleted = ? AND expires_at IS NOT NULL AND expires_at <= ? RETURNING id",
            [.bool(true), .date(t), .bool(false), .date(t)])
        return rows.count
    }

    static func taskSortExpression(_ key: TaskQuery.SortKey) -> String {
        switch key {
        case .id: "tasks.id"
        case .type: "tasks.type"
        case .status: "tasks.status"
        case .owner: "tasks.owner"
        case .createdAt: "tasks.created_at"
        case .updatedAt: "COALESCE(tasks.updated_at, tasks.created_at)"
        case .expiresAt: "COALESCE(tasks.expires_at, tasks.created_at)"
        }
    }

    static func taskSortValue(_ key: TaskQuery.SortKey, of task: ImageTask) -> SQLValue {
        switch key {
        case .id: .text(task.id)
        case .type: .text(task.type)
        case .status: .text(task.status.rawValue)
        case .owner: .text(task.owner)
        case .createdAt: .date(task.createdAt)
        case .updatedAt: .date(task.updatedAt)
        case .expiresAt: .date(task.expiresAt ?? task.createdAt)
        }
    }

    static func decodeTask(_ row: SQLRow) -> ImageTask? {
        guard let id = row["id"].string, let created = row["created_at"].date else { return nil }
        func json(_ column: String) -> JSONValue? {
            guard let text = row[column].string, !text.isEmpty else { return nil }
            let value = try? JSONValue.parse(Array(text.utf8))
            return value == .null ? nil : value
        }
        return ImageTask(
            id: id, type: row["type"].string ?? "", status: TaskStatus(rawValue: row["status"].string ?? "") ?? .failure,
            owner: row["owner"].string ?? "", imageID: row["image_id"].string, requestID: row["request_id"].string,
            userID: row["user_id"].string, input: json("input"), result: json("result"), message: row["message"].string ?? "",
            expiresAt: row["expires_at"].date, createdAt: created, updatedAt: row["updated_at"].date ?? created)
    }
}

extension SQLCatalog {
    /// Sets (or with `to: nil` removes) one image property only if its current value is
    /// `expecting` (nil: absent), in one transaction: Glance's `set_property_atomic` /
    /// `delete_property_atomic`, which the import lock relies on. False when the value differed.
    public func swapImageProperty(imageID: String, key: String, expecting old: String?, to new: String?) async throws -> Bool {
        let t = now()
        return try await db.withTransaction { tx in
            // The image's row lock orders every swap (and update) of this image across nodes.
            guard let image = try await self.lockImage(tx, id: imageID), !image["deleted"].bool else {
                throw GlimpseError.imageNotFound(imageID)
            }
            let rows = try await tx.query(
                "SELECT value, deleted FROM image_properties WHERE image_id = ? AND name = ?", [.text(imageID), .text(key)])
            let live = rows.first.flatMap { $0["deleted"].bool ? nil : $0 }
            guard live?["value"].string == old else { return false }
            // A new version of the image: a read-modify-write that read it before fails instead
            // of writing the old value back.
            let version = max(t, (image["updated_at"].date ?? t).addingTimeInterval(Self.versionResolution * 4))
            _ = try await tx.query("UPDATE images SET updated_at = ? WHERE id = ?", [.date(version), .text(imageID)])
            switch (rows.isEmpty, new) {
            case (true, let value?):
                _ = try await tx.query(
                    "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [.text(imageID), .text(key), .text(value), .date(t), .date(t), .null, .bool(false)])
            case (false, let value?):
                _ = try await tx.query(
                    "UPDATE image_properties SET value = ?, updated_at = ?, deleted = ?, deleted_at = ? WHERE image_id = ? AND name = ?",
                    [.text(value), .date(t), .bool(false), .null, .text(imageID), .text(key)])
            case (false, nil):
                _ = try await tx.query(
                    "UPDATE image_properties SET deleted = ?, deleted_at = ?, updated_at = ? WHERE image_id = ? AND name = ? AND deleted = ?",
                    [.bool(true), .date(t), .date(t), .text(imageID), .text(key), .bool(false)])
            case (true, nil):
                break
            }
            return true
        }
    }
}
