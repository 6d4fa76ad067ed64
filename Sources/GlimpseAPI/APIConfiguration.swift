import GlimpseDomain

/// Settings of the HTTP layer.
public struct APIConfiguration: Sendable {
    /// Largest JSON request body accepted (oslo.middleware's `max_request_body_size`, 112 KiB).
    public var maxJSONBodySize = 114_688
    /// `enabled_import_methods`, advertised in `OpenStack-image-import-methods` (none until import exists).
    /// noauth: the project of callers that send no `X-Project-Id`.
    public var noauthDefaultProject = "admin"
    public var formats = ImageFormats()

    public init() {}
}
