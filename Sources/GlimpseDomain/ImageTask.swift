import Foundation

/// Glance's task statuses: `pending → processing → success | failure`, or `pending → failure`.
public enum TaskStatus: String, Sendable, CaseIterable {
    case pending, processing, success, failure

    public var isFinal: Bool { self == .success || self == .failure }
}

/// A row of Glance's `tasks` table with its `task_info`: an import running in the background.
///
/// `api_image_import` tasks come from `POST /v2/images/{id}/import`, `import` tasks from the
/// legacy `POST /v2/tasks`. While a task runs, the node running it refreshes `updatedAt`
/// (its heartbeat); a `processing` task whose heartbeat is older than the claim timeout belongs
/// to a node that died, and another node takes it over.
public struct ImageTask: Sendable, Equatable {
    public var id: String
    public var type: String
    public var status: TaskStatus
    public var owner: String
    public var imageID: String?
    public var requestID: String?
    public var userID: String?
    public var input: JSONValue?
    public var result: JSONValue?
    public var message: String
    public var expiresAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, type: String, status: TaskStatus = .pending, owner: String, imageID: String? = nil,
        requestID: String? = nil, userID: String? = nil, input: JSONValue? = nil, result: JSONValue? = nil,
        message: String = "", expiresAt: Date? = nil, createdAt: Date, updatedAt: Date? = nil
    ) {
        self.id = id
        self.type = type
        self.status = status
        self.owner = owner
        self.imageID = imageID
        self.requestID = requestID
        self.userID = userID
        self.input = input
        self.result = result
        self.message = message
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// How many times a node has started this task (kept in `result` while it runs).
    public var attempts: Int {
        Int(result?.objectValue?["glimpse_attempts"]?.intValue ?? 0)
    }
}

/// `GET /v2/tasks` parameters.
public struct TaskQuery: Sendable, Equatable {
    public enum SortKey: String, Sendable, CaseIterable {
        case id, type, status, owner
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case expiresAt = "expires_at"
    }

    public var status: TaskStatus?
    public var type: String?
    /// Only this owner's tasks (everyone's for admins).
    public var owner: String?
    public var sortKey: SortKey = .createdAt
    public var ascending = false
    public var marker: String?
    public var limit: Int

    public init(limit: Int = 25) { self.limit = limit }
}
