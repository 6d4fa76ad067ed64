import Foundation
import GlimpseDomain
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-openstack-request-id")!
    static let projectID = HTTPField.Name("X-Project-Id")!
    static let tenantID = HTTPField.Name("X-Tenant-Id")!
    static let userID = HTTPField.Name("X-User-Id")!
    static let roles = HTTPField.Name("X-Roles")!
    static let imageSize = HTTPField.Name("x-openstack-image-size")!
    static let contentMD5 = HTTPField.Name("Content-MD5")!
    static let acceptPatch = HTTPField.Name("Accept-Patch")!
    static let importMethods = HTTPField.Name("OpenStack-image-import-methods")!
    static let imageMetaStore = HTTPField.Name("X-Image-Meta-Store")!
    static let storeIDs = HTTPField.Name("OpenStack-image-store-ids")!
}

/// Outermost middleware: gives every response `x-openstack-request-id` and turns every error
/// into Glance's error response through `ErrorTable`; internal causes go to the log only.
struct GlanceResponseMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    static let maxRequestIDLength = 64

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var requestID = "req-" + UUID().uuidString.lowercased()
        var response: Response
        if let given = request.headers[.requestID], !given.isEmpty {
            if given.count > Self.maxRequestIDLength {
                response = ErrorTable.response(
                    for: .badRequest("x-openstack-request-id is too long (\(Self.maxRequestIDLength) characters at most)."),
                    request: request)
                response.headers[.requestID] = requestID
                return response
            }
            requestID = given
        }
        context.requestID = requestID
        do {
            response = try await next(request, context)
        } catch {
            let e = ErrorTable.glimpseError(from: error)
            if e.code == .internal || e.code == .unavailable {
                context.logger.error("request failed", metadata: ["request_id": "\(requestID)", "error": "\(e)"])
            } else {
                context.logger.debug("request refused", metadata: ["request_id": "\(requestID)", "error": "\(e)"])
            }
            var extra: HTTPFields = [:]
            if e.code == .unsupportedMediaType, request.method == .patch {
                extra[.acceptPatch] = ImagePatch.MediaType.allCases.map(\.rawValue).sorted().joined(separator: ", ")
            }
            response = ErrorTable.response(for: e, request: request, extraHeaders: extra)
        }
        response.headers[.requestID] = requestID
        return response
    }
}

/// noauth: the identity comes from `X-Project-Id`/`X-Tenant-Id`, `X-User-Id` and `X-Roles`.
/// Without `X-Roles` the caller is an admin, so an operator without Keystone can do everything;
/// without a project header it acts in `defaultProject`.
struct NoAuthMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    let defaultProject: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let project = request.headers[.projectID] ?? request.headers[.tenantID] ?? defaultProject
        let roles: Set<String>
        if let header = request.headers[.roles] {
            roles = Set(header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        } else {
            roles = ["admin", "member", "reader"]
        }
        context.principal = Principal(projectID: project, userID: request.headers[.userID], roles: roles)
        return try await next(request, context)
    }
}

/// `/v2/images/` with nothing after the slash is an image with an empty id, which Glance's
/// router does not match: 404, not the image list (Tempest's null-id tests).
struct EmptyImageIDMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method != .post, request.uri.path == "/v2/images/" || request.uri.path == "/v1/images/" {
            throw GlimpseError.notFound("The resource could not be found.")
        }
        return try await next(request, context)
    }
}
