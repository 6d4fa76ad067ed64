import Foundation
import GlimpseDomain
import HTTPTypes
import Hummingbird

/// Every route's reject twin: other methods get 405 with `Allow`, as in Glance.
enum MethodNotAllowed {
    static let all: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]

    static func register(_ routes: [(String, [HTTPRequest.Method])], on router: Router<GlimpseRequestContext>) {
        for (path, allowed) in routes {
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            for method in all where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ in
                    var headers: HTTPFields = [:]
                    headers[.allow] = allow
                    return ErrorTable.response(
                        for: GlimpseError(.methodNotAllowed, "The method \(method.rawValue) is not allowed for this resource."),
                        request: request, extraHeaders: headers)
                }
            }
        }
    }
}
