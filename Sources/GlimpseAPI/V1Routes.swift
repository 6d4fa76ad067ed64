import Foundation
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import Hummingbird
import NIOCore

/// Image API v1 (Juno's `x-image-meta-*` protocol, reference §3), on the same catalog and
/// operations as v2, so an image made through one is served identically by the other.
struct V1Routes: Sendable {
    let service: ImageService
    let configuration: APIConfiguration
    let jobs: BackgroundJobs

    static let contentTransferEncoding = HTTPField.Name("Content-Transfer-Encoding")!
    static let purgeProps = HTTPField.Name("x-glance-registry-purge-props")!
    static let copyFrom = HTTPField.Name("x-glance-api-copy-from")!

    func register(on router: Router<GlimpseRequestContext>) {
        router.get("/v1/images") { request, context in
            let images = try await list(request, context)
            return Response.json(.object(JSONObject([("images", .array(images.map(V1Metadata.summary)))])))
        }
        router.get("/v1/images/detail") { request, context in
            let images = try await list(request, context)
            return Response.json(.object(JSONObject([("images", .array(images.map(V1Metadata.json)))])))
        }
        router.head("/v1/images/detail") { request, _ in
            var h = HTTPFields()
            h[.allow] = "GET"
            return ErrorTable.response(for: GlimpseError(.methodNotAllowed, "The method HEAD is not allowed for this resource."),
                                       request: request, extraHeaders: h)
        }
        router.post("/v1/images", use: create)
        router.head("/v1/images/:id") { request, context in
            let image = try await service.show(context.parameters.decoded("id"), principal: context.principal)
            return Response(status: .ok, headers: V1Metadata.headers(image))
        }
        router.get("/v1/images/:id", use: download)
        router.put("/v1/images/:id", use: update)
        router.delete("/v1/images/:id") { request, context in
            try await service.delete(context.parameters.decoded("id"), principal: context.principal)
            return Response(status: .ok)
        }
        registerMembers(on: router)
        MethodNotAllowed.register([
            ("/v1/images", [.get, .post]),
            ("/v1/images/detail", [.get]),
            ("/v1/images/:id", [.get, .put, .delete]),
            ("/v1/images/:id/members", [.get, .put]),
            ("/v1/images/:id/members/:member", [.get, .put, .delete]),
            ("/v1/shared-images/:member", [.get]),
        ], on: router)
    }

    /// v1 lists: public images, the caller's own, and those shared with it whatever the
    /// member status (LP 1132294); filters of reference §3.3.
    func list(_ request: Request, _ context: GlimpseRequestContext) async throws -> [Image] {
        var q = ImageQuery()
        q.memberStatus = .all
        q.osHidden = nil
        q.limit = min(service.configuration.limitDefault, service.configuration.limitMax)
        var sortKey = ImageQuery.SortKey.createdAt
        var sortDir = ImageQuery.SortDirection.desc
        for (key, value) in ImageQueryParser.pairs(request.uri.query) {
            switch key {
            case "limit":
                guard let n = Int(value), n >= 0 else { throw GlimpseError.badRequest("limit param must be a positive integer") }
                q.limit = min(n, service.configuration.limitMax)
            case "marker": q.marker = value
            case "sort_key":
                guard let k = ImageQuery.SortKey(rawValue: value) else { throw GlimpseError.badRequest("Unsupported sort_key. Acceptable values: \(ImageQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", "))") }
                sortKey = k
            case "sort_dir":
                guard let d = ImageQuery.SortDirection(rawValue: value) else { throw GlimpseError.badRequest("Unsupported sort_dir. Acceptable values: asc, desc") }
                sortDir = d
            case "name", "status", "container_format", "disk_format": q.columns[key] = [value]
            case "min_ram", "min_disk":
                guard Int64(value) != nil else { throw GlimpseError.badRequest("\(key) must be an integer") }
                q.columns[key] = [value]
            case "size_min", "size_max":
                guard let n = Int64(value), n >= 0 else { throw GlimpseError.badRequest("\(key) must be a non-negative integer") }
                if let i = q.ranges.firstIndex(where: { $0.column == "size" }) {
                    if key == "size_min" { q.ranges[i].min = n } else { q.ranges[i].max = n }
                } else {
                    q.ranges.append(("size", key == "size_min" ? n : nil, key == "size_max" ? n : nil))
                }
            case "is_public":
                if V1Metadata.bool(value) { q.visibility = .only(.public) } else { q.excludePublic = true }
            case "protected": q.protected = V1Metadata.bool(value)
            case "changes-since":
                guard let d = ImageJSON.parseTimestamp(value) else { throw GlimpseError.badRequest("Unrecognized changes-since value") }
                q.times.append((column: "updated_at", op: .gte, date: d))
            default:
                if key.hasPrefix("property-") { q.properties[String(key.dropFirst(9))] = value }
            }
        }
        q.sort = [(sortKey, sortDir)]
        q.tieBreakDirection = sortDir
        return try await service.list(q, principal: context.principal)
    }

    static func hasBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        if let l = request.headers[.contentLength], let n = Int(l) { return n > 0 }
        return false
    }

    /// The body as the image's bytes: base64 is decoded on the fly; other transfer encodings are refused.
    static func checkTransferEncoding(_ request: Request) throws -> Bool {
        guard let cte = request.headers[contentTransferEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(), !cte.isEmpty
        else { return false }
        switch cte {
        case "base64": return true
        case "binary", "8bit", "7bit": return false
        default:
            throw GlimpseError.badRequest("Content-Transfer-Encoding '\(cte)' is not supported; send the raw bytes or base64.")
        }
    }

    func upload(_ request: Request, id: String, meta: V1Metadata, principal: Principal) async throws -> Image {
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let base64 = try Self.checkTransferEncoding(request)
        guard contentType == "application/octet-stream" else {
            throw GlimpseError.badRequest("Unsupported Content-Type for image data: use application/octet-stream.")
        }
        let size = try meta.declaredSize
        let store = request.headers[.imageMetaStore]
        if base64 {
            return try await service.upload(id, body: Base64DecodingSequence(request.body), declaredSize: size,
                                            expectedChecksum: meta.checksum, killOnMismatch: true, storeID: store, principal: principal)
        }
        return try await service.upload(id, body: request.body, declaredSize: size, expectedChecksum: meta.checksum,
                                        killOnMismatch: true, storeID: store, principal: principal)
    }

    /// Where a create or update gets the image's data: the body, an external location, or a
    /// URL to copy from. At most one may be given.
    enum DataSource {
        case none, body, location(String), copyFrom(String)
    }

    static func dataSource(_ request: Request, meta: V1Metadata) throws -> DataSource {
        var sources: [DataSource] = []
        if hasBody(request) {
            _ = try checkTransferEncoding(request)
            sources.append(.body)
        }
        if let url = meta.location { sources.append(.location(url)) }
        if let url = request.headers[copyFrom]?.trimmingCharacters(in: .whitespaces) { sources.append(.copyFrom(url)) }
        guard sources.count <= 1 else {
            throw GlimpseError.badRequest("Supply only one of: image data in the body, x-image-meta-location, x-glance-api-copy-from.")
        }
        return sources.first ?? .none
    }

    /// Gives the queued image `id` its data from `source`.
    func attachData(_ source: DataSource, request: Request, id: String, meta: V1Metadata, principal: Principal) async throws -> Image? {
        switch source {
        case .none:
            return nil
        case .body:
            return try await upload(request, id: id, meta: meta, principal: principal)
        case .location(let url):
            return try await service.registerLocation(
                id, url: url, declaredSize: try meta.declaredSize, checksum: meta.checksum, principal: principal)
        case .copyFrom(let url):
            try await service.copyFrom(
                id, url: url, declaredSize: try meta.declaredSize, expectedChecksum: meta.checksum,
                storeID: request.headers[.imageMetaStore], principal: principal, jobs: jobs)
            return try await service.show(id, principal: principal)
        }
    }

    @Sendable func create(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        let meta = try V1Metadata(headers: request.headers)
        let source = try Self.dataSource(request, meta: meta)
        var fields = try meta.fields()
        for (key, value) in meta.properties.sorted(by: { $0.key < $1.key }) where fields[key] == nil {
            fields[key] = .string(value)
        }
        var image = try await service.create(.object(fields), principal: context.principal)
        do {
            if let withData = try await attachData(source, request: request, id: image.id, meta: meta, principal: context.principal) {
                image = withData
            }
        } catch {
            // Nothing half-made stays behind: an image whose data was refused before any was
            // kept is removed (a size or checksum mismatch has already killed it, as in Juno).
            if let current = try? await service.show(image.id, principal: context.principal), current.status == .queued {
                _ = try? await service.delete(image.id, principal: context.principal)
            }
            throw error
        }
        var headers = HTTPFields()
        headers[.location] = "http://\(request.head.authority ?? "localhost")/v1/images/\(image.id)"
        if let checksum = image.checksum { headers[.eTag] = checksum }
        return Response.json(.object(JSONObject([("image", V1Metadata.json(image))])), status: .created, headers: headers)
    }

    @Sendable func update(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("id")
        let meta = try V1Metadata(headers: request.headers)
        let current = try await service.show(id, principal: context.principal)
        let fields = try meta.fields(current: current)
        let purge = request.headers[Self.purgeProps].map(V1Metadata.bool) ?? true
        let source = try Self.dataSource(request, meta: meta)
        if case .none = source {} else if current.status != .queued {
            throw GlimpseError.conflict("Cannot upload to an unqueued image (status \(current.status.rawValue)).")
        }
        var image = try await service.updateV1(
            id, fields: fields, properties: meta.properties, purge: purge && !meta.properties.isEmpty, principal: context.principal)
        if let withData = try await attachData(source, request: request, id: id, meta: meta, principal: context.principal) {
            image = withData
        }
        return Response.json(.object(JSONObject([("image", V1Metadata.json(image))])))
    }

    @Sendable func download(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("id")
        guard let download = try await service.prepareDownload(id, principal: context.principal) else {
            let image = try await service.show(id, principal: context.principal)
            return Response(status: .noContent, headers: V1Metadata.headers(image))
        }
        var headers = V1Metadata.headers(download.image)
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: .imageData(download, range: nil, channel: context.channel))
    }

    static func memberJSON(_ m: ImageMember) -> JSONValue {
        .object(JSONObject([("member_id", .string(m.memberID)), ("can_share", .bool(m.canShare))]))
    }

    /// Members under `prefix` (`/v1` for the Image API, empty for the registry).
    func registerMembers(on router: Router<GlimpseRequestContext>, prefix: String = "/v1") {
        router.get(RouterPath(prefix + "/images/:id/members")) { request, context in
            let members = try await service.members(context.parameters.decoded("id"), principal: context.principal)
            return Response.json(.object(JSONObject([("members", .array(members.map(Self.memberJSON)))])))
        }
        router.put(RouterPath(prefix + "/images/:id/members")) { request, context in
            var request = request
            let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
            guard let list = body.objectValue?["memberships"]?.arrayValue else {
                throw GlimpseError.badRequest("Request body must be {\"memberships\": [...]}.")
            }
            let members: [(String, Bool)] = try list.map {
                guard let o = $0.objectValue, let id = o["member_id"]?.stringValue else {
                    throw GlimpseError.badRequest("Each membership needs a member_id.")
                }
                return (id, o["can_share"]?.boolValue ?? false)
            }
            try await service.replaceMembers(context.parameters.decoded("id"), members: members, principal: context.principal)
            return Response.noContent()
        }
        router.get(RouterPath(prefix + "/images/:id/members/:member")) { request, context in
            let m = try await service.member(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), principal: context.principal)
            return Response.json(.object(JSONObject([("member", Self.memberJSON(m))])))
        }
        router.put(RouterPath(prefix + "/images/:id/members/:member")) { request, context in
            var request = request
            var canShare = false
            if Self.hasBody(request) {
                let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
                canShare = body.objectValue?["member"]?.objectValue?["can_share"]?.boolValue ?? false
            }
            try await service.setMember(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), canShare: canShare,
                principal: context.principal)
            return Response.noContent()
        }
        router.delete(RouterPath(prefix + "/images/:id/members/:member")) { request, context in
            try await service.removeMember(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), principal: context.principal)
            return Response.noContent()
        }
        router.get(RouterPath(prefix + "/shared-images/:member")) { request, context in
            let shared = try await service.sharedImages(memberID: context.parameters.decoded("member"), principal: context.principal)
            return Response.json(.object(JSONObject([("shared_images", .array(shared.map { image, m in
                .object(JSONObject([("image_id", .string(image.id)), ("can_share", .bool(m.canShare))]))
            }))])))
        }
    }
}
