import Foundation
import GlimpseCore
import GlimpseDomain
import Hummingbird

/// `/v2/images/{id}/members[/{member}]`.
struct MemberRoutes: Sendable {
    let service: ImageService
    let configuration: APIConfiguration

    func register(on router: Router<GlimpseRequestContext>) {
        router.get("/v2/images/:id/members") { request, context in
            try request.rejectBody()
            let members = try await service.members(context.parameters.decoded("id"), principal: context.principal)
            return Response.json(.object(JSONObject([
                ("members", .array(members.map(ImageJSON.render))), ("schema", .string("/v2/schemas/members")),
            ])))
        }
        router.post("/v2/images/:id/members") { request, context in
            var request = request
            let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
            guard let memberID = body.objectValue?["member"]?.stringValue else {
                throw GlimpseError.badRequest("Member to be added not specified")
            }
            let member = try await service.addMember(
                context.parameters.decoded("id"), memberID: memberID, principal: context.principal)
            return Response.json(ImageJSON.render(member))
        }
        router.get("/v2/images/:id/members/:member") { request, context in
            try request.rejectBody()
            let member = try await service.member(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), principal: context.principal)
            return Response.json(ImageJSON.render(member))
        }
        router.put("/v2/images/:id/members/:member") { request, context in
            var request = request
            let body = try await request.jsonBody(limit: configuration.maxJSONBodySize)
            guard let status = body.objectValue?["status"]?.stringValue else {
                throw GlimpseError.badRequest("Status not specified")
            }
            let member = try await service.updateMember(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), status: status,
                principal: context.principal)
            return Response.json(ImageJSON.render(member))
        }
        router.delete("/v2/images/:id/members/:member") { request, context in
            try request.rejectBody()
            try await service.removeMember(
                context.parameters.decoded("id"), memberID: context.parameters.decoded("member"), principal: context.principal)
            return Response.noContent()
        }
    }
}
