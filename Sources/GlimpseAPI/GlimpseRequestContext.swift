import GlimpseDomain
import Hummingbird

/// Per-request state: who is calling and the request id every response carries.
public struct GlimpseRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the authentication middleware before any route runs.
    public var principal: Principal
    public var requestID: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = Principal(projectID: nil, userID: nil, roles: [])
        requestID = ""
    }
}
