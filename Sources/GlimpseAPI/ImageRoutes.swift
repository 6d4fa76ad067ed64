import Foundation
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import Hummingbird
import NIOCore

/// The v2 image routes: decode the wire form, call one `ImageService` operation, encode the answer.
struct ImageRoutes: Sendable {
    let service: ImageService
    let configuration: APIConfiguration
    let schemas: Schemas
    let jobs: BackgroundJobs

    var queryParser: ImageQueryParser {
        ImageQueryParser(limitDefault: service.configuration.limitDefault, limitMax: service.configuration.limitMax)
    }

    func register(on router: Router<GlimpseRequestContext>) {
        let methods: [(String, [HTTPRequest.Method])] = [
            ("/v2/images", [.get, .post]),
            ("/v2/images/:id", [.get, .patch, .delete]),
            ("/v2/images/:id/file", [.get, .put]),
            ("/v2/images/:id/actions/deactivate", [.post]),
            ("/v2/images/:id/actions/reactivate", [.post]),
            ("/v2/images/:id/tags/:tag", [.put, .delete]),
            ("/v2/images/:id/members", [.get, .post]),
            ("/v2/images/:id/members/:member", [.get, .put, .delete]),
            ("/v2/info/import", [.get]),
            ("/v2/images/:id/import", [.post]),
            ("/v2/info/stores", [.get]),
            ("/v2/info/stores/detail", [.get]),
            ("/v2/stores/:store/:id", [.delete]),
            ("/v2/schemas/image", [.get]),
            ("/v2/schemas/images", [.get]),
            ("/v2/schemas/member", [.get]),
            ("/v2/schemas/members", [.get]),
        ]
        router.get("/v2/images", use: list)
        router.post("/v2/images", use: create)
        router.get("/v2/images/:id", use: show)
        router.patch("/v2/images/:id", use: update)
        router.delete("/v2/images/:id", use: delete)
        router.put("/v2/images/:id/file", use: upload)
        router.get("/v2/images/:id/file", use: download)
        router.post("/v2/images/:id/actions/deactivate") { request, context in
            try await service.deactivate(context.parameters.decoded("id"), principal: context.principal)
            return Response.noContent()
        }
        router.post("/v2/images/:id/actions/reactivate") { request, context in
            try await service.reactivate(context.parameters.decoded("id"), principal: context.principal)
            return Response.noContent()
        }
        router.put("/v2/images/:id/tags/:tag") { request, context in
            try await service.addTag(context.parameters.decoded("id"), tag: context.parameters.decoded("tag"), principal: context.principal)
            return Response.noContent()
        }
        router.delete("/v2/images/:id/tags/:tag") { request, context in
            try request.rejectBody()
            try await service.removeTag(
                context.parameters.decoded("id"), tag: context.parameters.decoded("tag"), principal: context.principal)
            return Response.noContent()
        }
        router.get("/v2/info/import") { _, _ in
            Response.json(.object(JSONObject([("import-methods", .object(JSONObject([
                ("description", .string("Import methods available.")), ("type", .string("array")),
                ("value", .array(service.configuration.enabledImportMethods.map { .string($0) })),
            ])))])))
        }
        router.post("/v2/images/:id/import") { request, context in
            var request = request
            let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
            try await service.importImage(
                context.parameters.decoded("id"), request: ImageService.ImportRequest(body),
                storeHeader: request.headers[.imageMetaStore], principal: context.principal, requestID: context.requestID)
            return Response(status: .accepted)
        }
        router.get("/v2/info/stores") { request, context in
            try Response.json(Self.render(service.storesInfo(detail: false, principal: context.principal), defaultID: service.defaultStoreID, detail: false))
        }
        router.get("/v2/info/stores/detail") { request, context in
            try Response.json(Self.render(service.storesInfo(detail: true, principal: context.principal), defaultID: service.defaultStoreID, detail: true))
        }
        router.delete("/v2/stores/:store/:id") { request, context in
            try request.rejectBody()
            try await service.deleteFromStore(
                context.parameters.decoded("store"), imageID: context.parameters.decoded("id"), principal: context.principal)
            return Response.noContent()
        }
        MemberRoutes(service: service, configuration: configuration).register(on: router)
        TaskRoutes(service: service, configuration: configuration).register(on: router)
        router.get("/v2/schemas/image") { _, _ in Response.json(schemas.image) }
        router.get("/v2/schemas/images") { _, _ in Response.json(schemas.images) }
        router.get("/v2/schemas/member") { _, _ in Response.json(schemas.member) }
        router.get("/v2/schemas/members") { _, _ in Response.json(schemas.members) }
        MethodNotAllowed.register(methods, on: router)
    }

    @Sendable func create(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
        let image = try await service.create(body, principal: context.principal)
        var headers: HTTPFields = [:]
        headers[.location] = "/v2/images/\(image.id)"
        // Glance sends no empty header fields (RFC 7230).
        if !service.configuration.enabledImportMethods.isEmpty {
            headers[.importMethods] = service.configuration.enabledImportMethods.joined(separator: ",")
        }
        if service.configuration.multiStore {
            headers[.storeIDs] = service.configuration.storeDetails.map(\.id).joined(separator: ",")
        }
        return Response.json(ImageJSON.render(image, showStores: service.configuration.multiStore), status: .created, headers: headers)
    }

    @Sendable func show(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        try request.rejectBody()
        let image = try await service.show(context.parameters.decoded("id"), principal: context.principal)
        return Response.json(ImageJSON.render(image, showStores: service.configuration.multiStore))
    }

    @Sendable func list(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        try request.rejectBody()
        let params = ImageQueryParser.pairs(request.uri.query)
        let query = try queryParser.parse(params)
        let images = try await service.list(query, principal: context.principal)
        let rawWithoutMarker = (request.uri.query ?? "").split(separator: "&").filter {
            !$0.hasPrefix("marker=") && $0 != "marker"
        }.joined(separator: "&")
        var page = JSONObject()
        page["images"] = .array(images.map { ImageJSON.render($0, showStores: service.configuration.multiStore) })
        page["first"] = .string(rawWithoutMarker.isEmpty ? "/v2/images" : "/v2/images?\(rawWithoutMarker)")
        page["schema"] = .string("/v2/schemas/images")
        if let last = images.last, images.count == query.limit, query.limit > 0 {
            let prefix = rawWithoutMarker.isEmpty ? "" : rawWithoutMarker + "&"
            page["next"] = .string("/v2/images?\(prefix)marker=\(last.id)")
        }
        return Response.json(.object(page))
    }

    @Sendable func update(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        var request = request
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let contentType, let mediaType = ImagePatch.MediaType(rawValue: contentType) else {
            throw GlimpseError(.unsupportedMediaType, "Unsupported Content-Type")
        }
        let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
        let patch = try ImagePatch(body, mediaType: mediaType)
        let image = try await service.update(context.parameters.decoded("id"), patch: patch, principal: context.principal)
        return Response.json(ImageJSON.render(image, showStores: service.configuration.multiStore))
    }

    @Sendable func delete(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        try request.rejectBody()
        try await service.delete(context.parameters.decoded("id"), principal: context.principal)
        return Response.noContent()
    }

    /// Checks an image-data request (`PUT /file`, `PUT /stage`): `application/octet-stream`
    /// (415 otherwise); returns the declared size, from `x-openstack-image-size` or, as Glance
    /// falls back, `Content-Length` (the stores use it to choose one PUT or parts).
    static func declaredDataSize(_ request: Request) throws -> Int64? {
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard contentType == "application/octet-stream" else {
            throw GlimpseError(.unsupportedMediaType, "Content type \(request.headers[.contentType] ?? "(none)") is not supported; use application/octet-stream.")
        }
        if let header = request.headers[.imageSize] {
            guard let n = Int64(header.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw GlimpseError.badRequest("x-openstack-image-size must be a non-negative integer.")
            }
            return n
        }
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length >= 0 { return length }
        return nil
    }

    @Sendable func upload(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        let declared = try Self.declaredDataSize(request)
        _ = try await service.upload(
            context.parameters.decoded("id"), body: request.body, declaredSize: declared,
            storeID: request.headers[.imageMetaStore], principal: context.principal)
        return Response.noContent()
    }

    @Sendable func download(_ request: Request, context: GlimpseRequestContext) async throws -> Response {
        try request.rejectBody()
        let prefer = (request.uri.queryParameters.get("prefer") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let download = try await service.prepareDownload(
            context.parameters.decoded("id"), prefer: prefer, principal: context.principal)
        else {
            return Response.noContent()
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/octet-stream"
        if let checksum = download.image.checksum { headers[.contentMD5] = checksum }
        let rangeHeader = request.headers[.range] ?? request.headers[.contentRange]
        var status = HTTPResponse.Status.ok
        var range: Range<Int64>?
        if let rangeHeader {
            do {
                range = try ByteRange.parse(rangeHeader, size: download.size)
            } catch {
                headers[.contentRange] = "bytes */\(download.size)"
                return ErrorTable.response(
                    for: GlimpseError(.rangeNotSatisfiable, "Requested range not satisfiable."), request: request,
                    extraHeaders: headers.filter { $0.name != .contentType })
            }
            if let r = range {
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(download.size)"
            }
        }
        return Response(status: status, headers: headers, body: .imageData(download, range: range, channel: context.channel))
    }
}

extension ImageRoutes {
    /// Glance's discovery document: `{"stores": [{"id", "description", "default", "read-only"}]}`,
    /// plus `type`, `weight` and `properties` in the detail form.
    static func render(_ stores: [StoreDetail], defaultID: String, detail: Bool) -> JSONValue {
        .object(JSONObject([("stores", .array(stores.map { store in
            var o = JSONObject([("id", .string(store.id))])
            if let d = store.description { o["description"] = .string(d) }
            if store.id == defaultID { o["default"] = .string("true") }
            if store.readOnly { o["read-only"] = .string("true") }
            if detail {
                o["type"] = .string(store.type)
                o["weight"] = .int(Int64(store.weight))
                o["properties"] = .object(JSONObject(store.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
            }
            return .object(o)
        }))]))
    }
}

/// Single byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`); Glance refuses several ranges with 416.
enum ByteRange {
    struct Unsatisfiable: Error {}

    /// Returns the half-open range to send, or throws when it cannot be satisfied.
    static func parse(_ header: String, size: Int64) throws -> Range<Int64> {
        var spec = header.trimmingCharacters(in: .whitespaces)
        if spec.hasPrefix("bytes=") {
            spec.removeFirst(6)
        } else if spec.hasPrefix("bytes ") {  // legacy request Content-Range: "bytes a-b/total"
            spec.removeFirst(6)
            if let slash = spec.firstIndex(of: "/") { spec = String(spec[..<slash]) }
        } else {
            throw Unsatisfiable()
        }
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { throw Unsatisfiable() }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let n = Int64(last), n > 0, size > 0 else { throw Unsatisfiable() }
            return max(0, size - n)..<size
        }
        guard let start = Int64(first), start >= 0, start < size else { throw Unsatisfiable() }
        if last.isEmpty { return start..<size }
        guard let end = Int64(last), end >= start else { throw Unsatisfiable() }
        return start..<(min(end, size - 1) + 1)
    }
}
