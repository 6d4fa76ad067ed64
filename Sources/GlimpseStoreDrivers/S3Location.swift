/// A glance_store S3 location URI: `s3://host[:port][/path]/bucket/key`, with `s3+https://` for an
/// https endpoint (`s3+http://` is accepted too).
///
/// Glimpse writes locations without credentials (as glance_store 33.0.0 does). Older Glance
/// databases hold `s3://ACCESS:SECRET@host/bucket/key`; those parse too, and their credentials are
/// dropped: the store always signs with its configured keys. A secret key may contain `/`, so
/// the credentials end at the last `@` (glance_store's parser takes the same care).
public struct S3Location: Sendable, Equatable {
    public var scheme: String
    /// `host[:port]` plus any endpoint path, lower-cased host.
    public var host: String
    public var bucket: String
    public var key: String

    public static let schemes = ["s3", "s3+http", "s3+https"]

    public init(scheme: String, host: String, bucket: String, key: String) {
        self.scheme = scheme
        self.host = host
        self.bucket = bucket
        self.key = key
    }

    /// nil when `uri` is not an S3 location or is malformed (no host, bucket or key, or a second
    /// scheme inside, like `s3://a:b@https://host/…`).
    public init?(_ uri: String) {
        guard let sep = uri.firstRange(of: "://") else { return nil }
        let scheme = uri[..<sep.lowerBound].lowercased()
        guard Self.schemes.contains(scheme) else { return nil }
        var rest = Substring(uri[sep.upperBound...])
        guard !rest.contains("://") else { return nil }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 3 else { return nil }
        let key = parts.removeLast()
        let bucket = parts.removeLast()
        var host = parts.joined(separator: "/")
        if let slash = host.firstIndex(of: "/") {
            host = host[..<slash].lowercased() + host[slash...]
        } else {
            host = host.lowercased()
        }
        self.init(scheme: scheme, host: host, bucket: String(bucket), key: String(key))
    }

    /// The URI, never with credentials.
    public var uri: String { "\(scheme)://\(host)/\(bucket)/\(key)" }
}
