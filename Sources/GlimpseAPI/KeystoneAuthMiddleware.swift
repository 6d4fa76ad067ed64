import GlimpseDomain
import GlimpseKeystone
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    static let authToken = HTTPField.Name("X-Auth-Token")!
    static let storageToken = HTTPField.Name("X-Storage-Token")!
    static let serviceToken = HTTPField.Name("X-Service-Token")!
    static let wwwAuthenticate = HTTPField.Name("WWW-Authenticate")!
}

/// keystonemiddleware's `auth_token` for the Image API: every request but the version
/// documents and `/healthcheck` needs a valid `X-Auth-Token`, and the principal is the token's
/// project, user and roles. A valid `X-Service-Token` (Nova acting for a user) whose roles
/// include one of `service_token_roles` adds the `service` role. A missing or invalid token is
/// a 401 naming Keystone; a Keystone that cannot answer makes the request a 503, never a pass.
struct KeystoneAuthMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    let keystone: KeystoneClient

    /// Paths answered without a token, as Glance's pipeline does (versionnegotiation and
    /// healthcheck sit before authtoken).
    static func isOpen(_ path: String) -> Bool {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        return p == "/" || p == "/versions" || p == "/healthcheck"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isOpen(request.uri.path) { return try await next(request, context) }
        guard let token = request.headers[.authToken] ?? request.headers[.storageToken], !token.isEmpty,
              let info = try await keystone.validate(token)
        else {
            return unauthorized()
        }
        var roles = info.roles
        if let serviceToken = request.headers[.serviceToken], !serviceToken.isEmpty {
            guard let service = try await keystone.validate(serviceToken) else { return unauthorized() }
            if !service.roles.isDisjoint(with: keystone.configuration.serviceTokenRoles) { roles.insert("service") }
        }
        var context = context
        context.principal = Principal(
            projectID: info.projectID, userID: info.userID, roles: roles, outOfProjectScope: info.projectID == nil)
        return try await next(request, context)
    }

    /// keystonemiddleware's 401: a JSON error and the Keystone URI to authenticate against.
    func unauthorized() -> Response {
        let body = JSONValue.object(JSONObject([
            ("error", .object(JSONObject([
                ("code", .int(401)), ("title", .string("Unauthorized")),
                ("message", .string("The request you have made requires authentication.")),
            ]))),
        ]))
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = "Keystone uri=\"\(keystone.configuration.challengeURI)\""
        headers[.contentType] = "application/json"
        return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
    }
}
