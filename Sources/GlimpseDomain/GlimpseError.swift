/// The one error type of Glimpse (DESIGN.md §4.6).
///
/// `code` decides the HTTP status (GlimpseAPI's `ErrorTable`), `message` is shown to clients
/// and must never contain SQL, file paths, credentials or backend URLs, and `underlying` keeps
/// the real cause for the log.
public struct GlimpseError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case badRequest
        case unauthorized
        case forbidden
        case notFound
        case methodNotAllowed
        case conflict
        case gone
        case payloadTooLarge
        case unsupportedMediaType
        case rangeNotSatisfiable
        case unavailable
        case `internal`
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(code.rawValue): \(message) (\(underlying))" }
        return "\(code.rawValue): \(message)"
    }

    public static func badRequest(_ m: String) -> GlimpseError { .init(.badRequest, m) }
    public static func forbidden(_ m: String) -> GlimpseError { .init(.forbidden, m) }
    public static func notFound(_ m: String) -> GlimpseError { .init(.notFound, m) }
    public static func conflict(_ m: String) -> GlimpseError { .init(.conflict, m) }
    public static func tooLarge(_ m: String) -> GlimpseError { .init(.payloadTooLarge, m) }
    public static func imageNotFound(_ id: String) -> GlimpseError { .init(.notFound, "No image found with ID \(id)") }
}
