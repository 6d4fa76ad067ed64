import Foundation
import GlimpseCore
import GlimpseDomain
import HTTPTypes
import Hummingbird

/// glance-registry's JSON API (the CRUD service v1's glance-api called, port 9191), on the same
/// catalog and operations as the Image APIs. Image documents use v1's field names.
struct RegistryRoutes: Sendable {
    let service: ImageService
    let configuration: APIConfiguration
    let jobs: BackgroundJobs
    var v1: V1Routes { V1Routes(service: service, configuration: configuration, jobs: jobs) }

    func register(on router: Router<GlimpseRequestContext>) {
        router.get("/images") { request, context in
            let images = try await v1.list(request, context)
            return Response.json(.object(JSONObject([("images", .array(images.map(V1Metadata.summary)))])))
        }
        router.get("/images/detail") { request, context in
            let images = try await v1.list(request, context)
            return Response.json(.object(JSONObject([("images", .array(images.map(V1Metadata.json)))])))
        }
        router.post("/images") { request, context in
            var request = request
            let meta = try await Self.document(&request, limit: configuration.maxJSONBodySize)
            var fields = try meta.fields()
            for (key, value) in meta.properties.sorted(by: { $0.key < $1.key }) where fields[key] == nil { fields[key] = .string(value) }
            let image = try await service.create(.object(fields), principal: context.principal)
            return Response.json(.object(JSONObject([("image", V1Metadata.json(image))])))
        }
        router.get("/images/:id") { request, context in
            let image = try await service.show(context.parameters.decoded("id"), principal: context.principal)
            return Response.json(.object(JSONObject([("image", V1Metadata.json(image))])))
        }
        router.put("/images/:id") { request, context in
            var request = request
            let id = context.parameters.decoded("id")
            let meta = try await Self.document(&request, limit: configuration.maxJSONBodySize)
            let current = try await service.show(id, principal: context.principal)
            let purge = request.headers[V1Routes.purgeProps].map(V1Metadata.bool) ?? false
            let image = try await service.updateV1(
                id, fields: try meta.fields(current: current), properties: meta.properties, purge: purge, principal: context.principal)
            return Response.json(.object(JSONObject([("image", V1Metadata.json(image))])))
        }
        router.delete("/images/:id") { request, context in
            let id = context.parameters.decoded("id")
            let image = try await service.show(id, principal: context.principal)
            let status = try await service.delete(id, principal: context.principal)
            var deleted = image
            deleted.status = status
            deleted.deletedAt = Date()
            return Response.json(.object(JSONObject([("image", V1Metadata.json(deleted))])))
        }
        v1.registerMembers(on: router, prefix: "")
        MethodNotAllowed.register([
            ("/images", [.get, .post]),
            ("/images/detail", [.get]),
            ("/images/:id", [.get, .put, .delete]),
            ("/images/:id/members", [.get, .put]),
            ("/images/:id/members/:member", [.get, .put, .delete]),
            ("/shared-images/:member", [.get]),
        ], on: router)
        router.get("/healthcheck") { _, _ in Response(status: .ok, body: .init(byteBuffer: .init(string: "OK"))) }
    }

    static func document(_ request: inout Request, limit: Int) async throws -> V1Metadata {
        let body = try await request.jsonBody(limit: limit)
        guard let image = body.objectValue?["image"]?.objectValue else {
            throw GlimpseError.badRequest("Request body must be {\"image\": {...}}.")
        }
        let meta = try V1Metadata(registryImage: image)
        if meta.location != nil {
            // glance-api wrote locations after checking them itself; here nothing would check them.
            throw GlimpseError.badRequest("The registry does not take image locations; set them through the Image API.")
        }
        return meta
    }
}
