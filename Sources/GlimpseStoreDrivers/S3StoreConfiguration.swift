import GlimpseStore
import NIOCore

/// The S3 store's configuration, read from its section by glance_store's option names.
///
/// glance_store options (same names, meanings and defaults as glance_store 5.x):
///
/// | option | default | meaning |
/// |---|---|---|
/// | `s3_store_host` | required | the S3 endpoint: `host[:port]`, `http://…` or `https://…` (no scheme means http) |
/// | `s3_store_access_key` | required | access key id |
/// | `s3_store_secret_key` | required | secret key |
/// | `s3_store_bucket` | required | the bucket images go to |
/// | `s3_store_create_bucket_on_put` | false | create the bucket on the first upload if it is missing |
/// | `s3_store_bucket_url_format` | auto | `path` (`host/bucket/key`), `virtual` (`bucket.host/key`), or `auto` (virtual when the bucket is a DNS label and the host is a name, not an IP address or `localhost`, as botocore does) |
/// | `s3_store_large_object_size` | 100 | MB; a declared size at or above it goes multipart |
/// | `s3_store_large_object_chunk_size` | 10 | MB, at least 5; the multipart part size (raised so no image needs more than 10,000 parts) |
/// | `s3_store_thread_pools` | 10 | parts of a multipart upload in flight at once |
/// | `s3_store_region_name` | "" | SigV4 region; when empty, derived from an AWS host name as glance_store does, else `us-east-1` |
///
/// glance_store options not read: `s3_store_cacert` (give the store an `HTTPClient` whose TLS
/// configuration trusts the CA) and the boto3 checksum options (payloads are signed instead).
///
/// Glimpse-only options:
///
/// | option | default | meaning |
/// |---|---|---|
/// | `glimpse_s3_payload_signing` | `streaming` | how streamed bodies are signed: `streaming` (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, each 64 KiB chunk signed) or `unsigned` (`UNSIGNED-PAYLOAD`, for servers without aws-chunked support; use https). Bodies already in memory (buffered parts, XML) always carry their SHA-256. |
/// | `glimpse_s3_request_timeout` | 60 | seconds a request without image data (HEAD, DELETE, multipart control) may take |
/// | `glimpse_s3_large_object_size_bytes` | – | overrides `s3_store_large_object_size` in bytes (tests) |
/// | `glimpse_s3_large_object_chunk_size_bytes` | – | overrides `s3_store_large_object_chunk_size` in bytes, at least 5 MiB (tests) |
public struct S3StoreConfiguration: Sendable {
    public enum AddressingStyle: String, Sendable { case auto, path, virtual }
    public enum PayloadSigning: String, Sendable { case streaming, unsigned }

    /// `http` or `https`.
    public var scheme: String
    /// `host[:port]` as configured (lower-cased), without scheme or path.
    public var authority: String
    /// A path prefix of the endpoint (`/s3` in `https://gw.example/s3`), or "".
    public var basePath: String
    public var accessKey: String
    public var secretKey: String
    public var bucket: String
    public var createBucketOnPut: Bool
    public var addressing: AddressingStyle
    /// Bytes; a declared size at or above this goes multipart.
    public var largeObjectSize: Int64
    /// Bytes; the configured multipart part size.
    public var partSize: Int64
    public var threadPools: Int
    public var region: String
    public var payloadSigning: PayloadSigning
    public var requestTimeout: TimeAmount

    /// S3's limits: parts are at least 5 MiB (except the last) and at most 10,000.
    public static let minimumPartSize: Int64 = 5 << 20
    public static let maximumPartCount: Int64 = 10_000

    public init(options: StoreOptions) throws {
        let section = options.section
        func fail(_ message: String) -> StoreConfigurationError { StoreConfigurationError("[\(section)] \(message)") }

        var host = try options.required("s3_store_host")
        scheme = "http"
        if host.lowercased().hasPrefix("https://") {
            scheme = "https"
            host = String(host.dropFirst("https://".count))
        } else if host.lowercased().hasPrefix("http://") {
            host = String(host.dropFirst("http://".count))
        } else if host.contains("://") {
            throw fail("s3_store_host must be host[:port], http://… or https://…")
        }
        while host.hasSuffix("/") { host.removeLast() }
        if let slash = host.firstIndex(of: "/") {
            authority = String(host[..<slash]).lowercased()
            basePath = String(host[slash...])
        } else {
            authority = host.lowercased()
            basePath = ""
        }
        guard !authority.isEmpty, !authority.contains("@") else {
            throw fail("s3_store_host must name a host (credentials go in s3_store_access_key and s3_store_secret_key)")
        }
        accessKey = try options.required("s3_store_access_key")
        secretKey = try options.required("s3_store_secret_key")
        bucket = try options.required("s3_store_bucket")
        guard !bucket.contains("/") else { throw fail("s3_store_bucket must be a bucket name, not a path") }
        createBucketOnPut = try options.bool("s3_store_create_bucket_on_put", default: false)

        let format = options.string("s3_store_bucket_url_format", default: "auto").lowercased()
        guard let style = AddressingStyle(rawValue: format) else {
            throw fail("s3_store_bucket_url_format must be auto, path or virtual, not '\(format)'")
        }
        addressing = style
        if style == .virtual && !Self.isVirtualHostable(bucket, https: scheme == "https") {
            throw fail("s3_store_bucket_url_format is virtual, but the bucket name is not a valid DNS label")
        }

        let largeMB = try options.int("s3_store_large_object_size", default: 100)
        guard largeMB >= 0 else { throw fail("s3_store_large_object_size must be 0 or more (MB)") }
        largeObjectSize = Int64(largeMB) << 20
        if options["glimpse_s3_large_object_size_bytes"] != nil {
            let bytes = try options.int("glimpse_s3_large_object_size_bytes", default: 0)
            guard bytes >= 0 else { throw fail("glimpse_s3_large_object_size_bytes must be 0 or more") }
            largeObjectSize = Int64(bytes)
        }
        let chunkMB = try options.int("s3_store_large_object_chunk_size", default: 10)
        guard chunkMB >= 5 else { throw fail("s3_store_large_object_chunk_size must be at least 5 (MB)") }
        partSize = Int64(chunkMB) << 20
        if options["glimpse_s3_large_object_chunk_size_bytes"] != nil {
            let bytes = try options.int("glimpse_s3_large_object_chunk_size_bytes", default: 0)
            guard Int64(bytes) >= Self.minimumPartSize else {
                throw fail("glimpse_s3_large_object_chunk_size_bytes must be at least \(Self.minimumPartSize)")
            }
            partSize = Int64(bytes)
        }
        threadPools = try options.int("s3_store_thread_pools", default: 10)
        guard threadPools > 0 else { throw fail("s3_store_thread_pools must be a positive integer") }

        let configuredRegion = options.string("s3_store_region_name", default: "")
        region = configuredRegion.isEmpty ? (Self.awsRegion(forHost: authority) ?? "us-east-1") : configuredRegion

        let signing = options.string("glimpse_s3_payload_signing", default: "streaming").lowercased()
        guard let mode = PayloadSigning(rawValue: signing) else {
            throw fail("glimpse_s3_payload_signing must be streaming or unsigned, not '\(signing)'")
        }
        payloadSigning = mode
        let timeout = try options.int("glimpse_s3_request_timeout", default: 60)
        guard timeout > 0 else { throw fail("glimpse_s3_request_timeout must be a positive number of seconds") }
        requestTimeout = .seconds(Int64(timeout))
    }

    /// The part size for an upload of `size` bytes: the configured size, raised so the upload
    /// needs at most 10,000 parts (glance_store does the same).
    public func partSize(forDeclaredSize size: Int64?) -> Int64 {
        guard let size, size > 0 else { return partSize }
        let needed = (size + Self.maximumPartCount - 1) / Self.maximumPartCount
        return max(partSize, needed)
    }

    /// Whether requests put the bucket in the host name.
    public var usesVirtualHosting: Bool {
        switch addressing {
        case .path: return false
        case .virtual: return true
        case .auto: return Self.isVirtualHostable(bucket, https: scheme == "https") && !Self.isIPOrLocalhost(authority)
        }
    }

    /// The host part of glance_store location URIs: `authority` plus any base path.
    public var locationHost: String { authority + basePath }

    /// The location scheme glance_store writes for this endpoint.
    public var locationScheme: String { scheme == "https" ? "s3+https" : "s3" }

    /// A bucket name usable as a DNS label: 3-63 characters of a-z 0-9 '-' '.', starting and
    /// ending with a letter or digit, not an IP address. With https, no dots (the certificate
    /// would not match).
    static func isVirtualHostable(_ bucket: String, https: Bool) -> Bool {
        let bytes = Array(bucket.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
        }
        guard alnum(bytes.first!), alnum(bytes.last!) else { return false }
        for b in bytes where !(alnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")) { return false }
        if bucket.contains("..") || (https && bucket.contains(".")) { return false }
        if isIPOrLocalhost(bucket) { return false }
        return true
    }

    static func isIPOrLocalhost(_ authority: String) -> Bool {
        if authority.hasPrefix("[") { return true }  // IPv6 literal
        var host = Substring(authority)
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// glance_store's `get_s3_location` table: the region an AWS S3 host name implies.
    static func awsRegion(forHost authority: String) -> String? {
        var host = Substring(authority)
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        let table: [String: String] = [
            "s3.amazonaws.com": "us-east-1",
            "s3-us-east-1.amazonaws.com": "us-east-1", "s3-us-east-2.amazonaws.com": "us-east-2",
            "s3-us-west-1.amazonaws.com": "us-west-1", "s3-us-west-2.amazonaws.com": "us-west-2",
            "s3-ap-east-1.amazonaws.com": "ap-east-1", "s3-ap-south-1.amazonaws.com": "ap-south-1",
            "s3-ap-northeast-1.amazonaws.com": "ap-northeast-1", "s3-ap-northeast-2.amazonaws.com": "ap-northeast-2",
            "s3-ap-northeast-3.amazonaws.com": "ap-northeast-3", "s3-ap-southeast-1.amazonaws.com": "ap-southeast-1",
            "s3-ap-southeast-2.amazonaws.com": "ap-southeast-2", "s3-ca-central-1.amazonaws.com": "ca-central-1",
            "s3-cn-north-1.amazonaws.com.cn": "cn-north-1", "s3-cn-northwest-1.amazonaws.com.cn": "cn-northwest-1",
            "s3-eu-central-1.amazonaws.com": "eu-central-1", "s3-eu-west-1.amazonaws.com": "eu-west-1",
            "s3-eu-west-2.amazonaws.com": "eu-west-2", "s3-eu-west-3.amazonaws.com": "eu-west-3",
            "s3-eu-north-1.amazonaws.com": "eu-north-1", "s3-sa-east-1.amazonaws.com": "sa-east-1",
        ]
        return table[String(host)]
    }
}
