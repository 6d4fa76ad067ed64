import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v2/tasks`, `GET /v2/images/{id}/tasks`, the task schemas, and staging (`PUT /stage`).
struct TaskRoutes: Sendable {
    let service: ImageService
    let configuration: APIConfiguration

    func register(on router: Router<GlimpseRequestContext>) {
        let methods: [(String, [HTTPRequest.Method])] = [
            ("/v2/tasks", [.get, .post]),
            ("/v2/tasks/:id", [.get, .delete]),
            ("/v2/images/:id/tasks", [.get]),
            ("/v2/images/:id/stage", [.put]),
            ("/v2/schemas/task", [.get]),
            ("/v2/schemas/tasks", [.get]),
        ]
        router.get("/v2/tasks", use: list)
        router.post("/v2/tasks") { request, context in
            var request = request
            let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
            let task = try await service.createTask(body, principal: context.principal, requestID: context.requestID)
            var headers: HTTPFields = [:]
            headers[.location] = "/v2/tasks/\(task.id)"
            return Response.json(TaskJSON.render(task), status: .created, headers: headers)
        }
        router.get("/v2/tasks/:id") { request, context in
            try request.rejectBody()
            return Response.json(TaskJSON.render(try await service.showTask(context.parameters.decoded("id"), principal: context.principal)))
        }
        router.delete("/v2/tasks/:id") { request, context in
            _ = try await service.showTask(context.parameters.decoded("id"), principal: context.principal)
            var headers: HTTPFields = [:]
            headers[.allow] = "GET"
            return ErrorTable.response(
                for: GlimpseError(.methodNotAllowed, "This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property."),
                request: request, extraHeaders: headers)
        }
        router.get("/v2/images/:id/tasks") { request, context in
            try request.rejectBody()
            let tasks = try await service.imageTasks(context.parameters.decoded("id"), principal: context.principal)
            return Response.json(.object(JSONObject([("tasks", .array(tasks.map(TaskJSON.renderRecord)))])))
        }
        router.put("/v2/images/:id/stage") { request, context in
            let declared = try ImageRoutes.declaredDataSize(request)
            _ = try await service.stage(
                context.parameters.decoded("id"), body: request.body, declaredSize: declared, principal: context.principal)
            return Response.noContent()
        }
        router.get("/v2/schemas/task") { _, _ in Response.json(TaskJSON.schema) }
        router.get("/v2/schemas/tasks") { _, _ in Response.json(TaskJSON.collectionSchema) }
        MethodNotAllowed.register(methods, on: router)
    }

    @Sendable func list(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        try request.rejectBody()
        let params = ImageQueryParser.pairs(request.uri.query)
        var query = TaskQuery(limit: service.configuration.limitDefault)
        for (key, value) in params {
            switch key {
            case "limit":
                guard let n = Int(value) else { throw GlimpseError.badRequest("limit param must be an integer") }
                guard n >= 0 else { throw GlimpseError.badRequest("limit param must be positive") }
                query.limit = min(n, service.configuration.limitMax)
            case "marker":
                guard value.count == 36, UUID(uuidString: value) != nil else { throw GlimpseError.badRequest("Invalid marker format") }
                query.marker = value
            case "sort_dir":
                guard value == "asc" || value == "desc" else { throw GlimpseError.badRequest("Invalid sort direction: \(value)") }
                query.ascending = value == "asc"
            case "sort_key":
                guard let key = TaskQuery.SortKey(rawValue: value) else { throw GlimpseError.badRequest("Invalid sort key: \(value)") }
                query.sortKey = key
            case "status":
                guard let s = TaskStatus(rawValue: value) else { throw GlimpseError.badRequest("Invalid status value: \(value)") }
                query.status = s
            case "type":
                guard value == "import" else { throw GlimpseError.badRequest("Invalid type value: \(value)") }
                query.type = value
            default:
                continue
            }
        }
        let tasks = try await service.listTasks(query, principal: context.principal)
        let withoutMarker = params.filter { $0.0 != "marker" }
        func encode(_ pairs: [(String, String)]) -> String {
            pairs.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        var page = JSONObject()
        page["tasks"] = .array(tasks.map(TaskJSON.renderStub))
        page["first"] = .string(withoutMarker.isEmpty ? "/v2/tasks" : "/v2/tasks?\(encode(withoutMarker))")
        page["schema"] = .string("/v2/schemas/tasks")
        if let last = tasks.last, tasks.count == query.limit, query.limit > 0 {
            page["next"] = .string("/v2/tasks?\(encode(withoutMarker + [("marker", last.id)]))")
        }
        return Response.json(.object(page))
    }

    /// Python's `urlencode` quoting (`quote_plus`).
    static func escape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "_.-~")
        return (s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s).replacingOccurrences(of: "%20", with: "+")
    }
}

/// Tasks on the wire, as Glance's serializers write them.
enum TaskJSON {
    /// `GET /v2/tasks/{id}` and `POST /v2/tasks`.
    static func render(_ task: ImageTask) -> JSONValue {
        var o = JSONObject()
        o["id"] = .string(task.id)
        o["input"] = task.input ?? .null
        o["type"] = .string(task.type)
        o["status"] = .string(task.status.rawValue)
        o["owner"] = .string(task.owner)
        o["message"] = .string(task.message)
        o["result"] = publicResult(task)
        o["created_at"] = .string(ImageJSON.timestamp(task.createdAt))
        o["updated_at"] = .string(ImageJSON.timestamp(task.updatedAt))
        o["self"] = .string("/v2/tasks/\(task.id)")
        o["schema"] = .string("/v2/schemas/task")
        if let v = task.imageID { o["image_id"] = .string(v) }
        if let v = task.requestID { o["request_id"] = .string(v) }
        if let v = task.userID { o["user_id"] = .string(v) }
        if let v = task.expiresAt { o["expires_at"] = .string(ImageJSON.timestamp(v)) }
        return .object(o)
    }

    /// A `GET /v2/tasks` item: no input, result or message.
    static func renderStub(_ task: ImageTask) -> JSONValue {
        var o = JSONObject()
        o["id"] = .string(task.id)
        o["type"] = .string(task.type)
        o["status"] = .string(task.status.rawValue)
        o["owner"] = .string(task.owner)
        o["created_at"] = .string(ImageJSON.timestamp(task.createdAt))
        o["updated_at"] = .string(ImageJSON.timestamp(task.updatedAt))
        o["self"] = .string("/v2/tasks/\(task.id)")
        o["schema"] = .string("/v2/schemas/task")
        if let v = task.expiresAt { o["expires_at"] = .string(ImageJSON.timestamp(v)) }
        return .object(o)
    }

    /// `GET /v2/images/{id}/tasks` items: Glance returns the database records as they are.
    static func renderRecord(_ task: ImageTask) -> JSONValue {
        func iso(_ d: Date?) -> JSONValue {
            guard let d else { return .null }
            let s = SQLTimestamp.format(d)
            return .string(String(s.prefix(10)) + "T" + String(s.dropFirst(11)))
        }
        var o = JSONObject()
        o["id"] = .string(task.id)
        o["type"] = .string(task.type)
        o["status"] = .string(task.status.rawValue)
        o["owner"] = .string(task.owner)
        o["expires_at"] = iso(task.expiresAt)
        o["created_at"] = iso(task.createdAt)
        o["updated_at"] = iso(task.updatedAt)
        o["deleted_at"] = .null
        o["deleted"] = .bool(false)
        o["image_id"] = .optionalString(task.imageID)
        o["request_id"] = .optionalString(task.requestID)
        o["user_id"] = .optionalString(task.userID)
        o["input"] = task.input ?? .null
        o["result"] = publicResult(task)
        o["message"] = .string(task.message)
        return .object(o)
    }

    /// The result without Glimpse's bookkeeping (the attempt counter of a running task).
    static func publicResult(_ task: ImageTask) -> JSONValue {
        guard var o = task.result?.objectValue else { return task.result ?? .null }
        o["glimpse_attempts"] = nil
        return o.pairs.isEmpty ? .null : .object(o)
    }

    static let properties: [(String, JSONValue)] = [
        ("id", obj([("description", .string("An identifier for the task")),
                    ("pattern", .string("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")),
                    ("type", .string("string"))])),
        ("type", obj([("description", .string("The type of task represented by this content")),
                      ("enum", .array(["import", "api_image_import", "location_import"].map { .string($0) })),
                      ("type", .string("string"))])),
        ("status", obj([("description", .string("The current status of this task")),
                        ("enum", .array(TaskStatus.allCases.map { .string($0.rawValue) })), ("type", .string("string"))])),
        ("input", obj([("description", .string("The parameters required by task, JSON blob")),
                       ("type", .array([.string("null"), .string("object")]))])),
        ("result", obj([("description", .string("The result of current task, JSON blob")),
                        ("type", .array([.string("null"), .string("object")]))])),
        ("owner", obj([("description", .string("An identifier for the owner of this task")), ("type", .string("string"))])),
        ("message", obj([("description", .string("Human-readable informative message only included when appropriate (usually on failure)")),
                         ("type", .string("string"))])),
        ("image_id", obj([("description", .string("Image associated with the task")), ("type", .string("string"))])),
        ("request_id", obj([("description", .string("Human-readable informative request-id")), ("type", .string("string"))])),
        ("user_id", obj([("description", .string("User associated with the task")), ("type", .string("string"))])),
        ("expires_at", obj([("description", .string("Datetime when this resource would be subject to removal")),
                            ("type", .array([.string("null"), .string("string")]))])),
        ("created_at", obj([("description", .string("Datetime when this resource was created")), ("type", .string("string"))])),
        ("updated_at", obj([("description", .string("Datetime when this resource was updated")), ("type", .string("string"))])),
        ("self", obj([("readOnly", .bool(true)), ("type", .string("string"))])),
        ("schema", obj([("readOnly", .bool(true)), ("type", .string("string"))])),
    ]

    static func obj(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(pairs)) }

    static let schema: JSONValue = obj([
        ("name", .string("task")), ("properties", obj(properties)), ("additionalProperties", .bool(false)),
    ])

    static let collectionSchema: JSONValue = obj([
        ("name", .string("tasks")),
        ("properties", obj([
            ("tasks", obj([("type", .string("array")), ("items", obj([
                ("name", .string("task")),
                ("properties", obj(properties.filter { !["input", "result", "message"].contains($0.0) })),
                ("additionalProperties", .bool(false)),
            ]))])),
            ("first", obj([("type", .string("string"))])),
            ("next", obj([("type", .string("string"))])),
            ("schema", obj([("type", .string("string"))])),
        ])),
        ("links", .array([
            obj([("rel", .string("first")), ("href", .string("{first}"))]),
            obj([("rel", .string("next")), ("href", .string("{next}"))]),
            obj([("rel", .string("describedby")), ("href", .string("{schema}"))]),
        ])),
    ])
}
