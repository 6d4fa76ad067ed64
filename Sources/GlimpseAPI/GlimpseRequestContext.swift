import GlimpseDomain
import Hummingbird
import NIOCore

/// Per-request state: who is calling and the request id every response carries.
public struct GlimpseRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the authentication middleware before any route runs.
    public var principal: Principal
    public var requestID: String
    /// The connection, for zero-copy downloads (`FileRegionResponder`).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        principal = Principal(projectID: nil, userID: nil, roles: [])
        requestID = ""
    }
}
