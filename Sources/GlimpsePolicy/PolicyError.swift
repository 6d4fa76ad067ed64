/// Why a policy file, a policy rule or a property-protection file was refused.
///
/// These are configuration errors found while loading, before any request is served: Glimpse
/// refuses to start with one, as Glance does. The message names the file, the rule or section,
/// and the problem, so an operator can fix it without reading code. (Request-time denials are
/// not errors here: `PolicyEnforcer.enforce` and `PropertyProtections.allows` answer `false`,
/// and the caller turns that into `GlimpseError(.forbidden)` or `.notFound`.)
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
