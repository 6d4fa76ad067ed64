import Foundation
import GlimpseDomain
import HTTPTypes
import Hummingbird

/// The version document (`GET /` is 300, `GET /versions` 200), with hrefs built from the
/// request's host as Glance does.
enum Versions {
    /// v2.8–2.13 and 2.15 need multi-store, 2.14/2.16/2.18 the cache; neither is on yet.
    static let supported = ["v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"]
    static let current = "v2.17"

    static func document(_ request: Request) -> JSONValue {
        let host = request.head.authority ?? "localhost:9292"
        let href = "http://\(host)/v2/"
        func entry(_ id: String, _ status: String) -> JSONValue {
            .object(JSONObject([
                ("id", .string(id)), ("status", .string(status)),
                ("links", .array([.object(JSONObject([("rel", .string("self")), ("href", .string(href))]))])),
            ]))
        }
        return .object(JSONObject([("versions", .array([entry(current, "CURRENT")] + supported.map { entry($0, "SUPPORTED") }))]))
    }

    static func register(on router: Router<GlimpseRequestContext>) {
        router.get("/") { request, _ in Response.json(document(request), status: .multipleChoices) }
        router.get("/versions") { request, _ in Response.json(document(request)) }
        router.get("/healthcheck") { _, _ in
            var headers: HTTPFields = [:]
            headers[.contentType] = "text/plain; charset=UTF-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: .init(string: "OK")))
        }
    }
}
