import AsyncHTTPClient
import Foundation
import GlimpseDomain
import GlimpseStore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// glance_store's `s3` driver: images as objects in one bucket of an S3 (or S3-compatible)
/// server, each request signed with AWS Signature Version 4 (`SigV4Signer`).
///
/// - Locations are `s3://host[:port]/bucket/<image id>` (`s3+https://` for an https endpoint),
///   without credentials. Locations an older Glance wrote with `access:secret@` are read and
///   deleted with the configured credentials.
/// - Writes (`S3BlobWriter`): a declared size below `s3_store_large_object_size` is one PUT
///   whose body streams as it arrives; a larger declared size is a multipart upload whose parts
///   stream as they arrive; an unknown size is buffered one part at a time (see the writer).
///   Nothing is visible before `commit()`; `cancel()` or any failure aborts the multipart upload,
///   so no parts remain.
/// - Reads stream the object, with `Range` for byte ranges. `delete` is idempotent.
/// - Errors are `GlimpseError`s whose messages name no host, bucket, key or credential:
///   `.notFound` (NoSuchKey/NoSuchBucket), `.rangeNotSatisfiable`, `.payloadTooLarge`
///   (EntityTooLarge, out of space), `.unavailable` (unreachable, timeouts, 5xx, SlowDown,
///   refused credentials). The S3 error code and request id go to `underlying`, for the log.
public struct S3BlobStore: BlobStore, DefersCleanups {
    public let id: String
    public let configuration: S3StoreConfiguration
    /// Aborts and deletes that could not be done when due (the server was down).
    public let deferredCleanups = DeferredCleanups()
    public let capabilities = BlobStoreCapabilities(readOnly: false, randomAccess: true, thinProvisioning: false)
    let client: HTTPClient
    let signer: SigV4Signer
    let bucketReady: BucketReadiness
    let now: @Sendable () -> Int64
    /// The whole-request deadline of data transfers: long enough for any image; stalls are
    /// caught by the client's read timeout.
    let dataDeadline: TimeAmount = .hours(24)

    /// Payload bytes per signed chunk of an `aws-chunked` body (AWS recommends 64 KiB; at least 8 KiB).
    static let signingChunkSize = 64 * 1024

    public init(id: String, options: StoreOptions, client: HTTPClient) throws {
        try self.init(id: id, configuration: S3StoreConfiguration(options: options), client: client)
    }

    public init(
        id: String, configuration: S3StoreConfiguration, client: HTTPClient,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.id = id
        self.configuration = configuration
        self.client = client
        self.signer = SigV4Signer(
            accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region,
            service: "s3")
        self.bucketReady = BucketReadiness()
        self.now = now
    }

    /// The client configuration the store expects: no redirects (S3 redirects only to say the
    /// region is wrong, and a redirected request would need signing again), no decompression,
    /// connect and read timeouts.
    ///
    /// The read timeout is how long the store waits for S3 to answer once a request is sent,
    /// and, because AsyncHTTPClient stops reading while a download's consumer is busy, also the
    /// longest a download may pause for a slow client before it fails (seen here: a 3 s pause in
    /// the sink with a 1 s read timeout ends the read with `.unavailable`). Keep it above both.
    public static func clientConfiguration(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(120))
        -> HTTPClient.Configuration
    {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: connectTimeout, read: readTimeout))
        configuration.decompression = .disabled
        // One connection per transfer in flight (see SwiftBlobStore.objectStoreConnectionsPerHost).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = SwiftBlobStore.objectStoreConnectionsPerHost
        return configuration
    }

    // MARK: locations

    public func location(forImageID imageID: String) -> String? { location(forKey: imageID) }

    public func location(forKey key: String) -> String {
        S3Location(scheme: configuration.locationScheme, host: configuration.locationHost, bucket: configuration.bucket, key: key).uri
    }

    /// S3 locations on this store's endpoint, with or without (legacy) credentials.
    public func handles(location: String) -> Bool {
        guard let parsed = S3Location(location) else { return false }
        return parsed.host == configuration.locationHost
    }

    func target(_ location: String) throws -> S3Location {
        guard let parsed = S3Location(location), parsed.host == configuration.locationHost else {
            throw GlimpseError.notFound("Image data not found.")
        }
        return parsed
    }

    // MARK: BlobStore

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        try await ensureBucket()
        return S3BlobWriter(store: self, key: imageID, expectedSize: expectedSize)
    }

    public func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        let loc = try target(location)
        var operation = S3Operation(method: .GET, bucket: loc.bucket, key: loc.key)
        if let range {
            if range.isEmpty { return }
            let last = range.upperBound == .max ? "" : "\(range.upperBound - 1)"
            operation.headers.append((name: "range", value: "bytes=\(range.lowerBound)-\(last)"))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(prepare(operation), timeout: dataDeadline)
        } catch {
            throw Self.transportError(error)
        }
        guard response.status == .ok || response.status == .partialContent else {
            let body = try? await response.body.collect(upTo: 1 << 20)
            throw Self.serviceError(
                S3Response(status: response.status, headers: response.headers, body: body.map { String(buffer: $0) } ?? ""),
                operation: "GetObject", missing: .notFound)
        }
        // A server that ignores Range answers 200 with everything: cut the range out ourselves.
        var window = BodyWindow(skip: 0, remaining: response.headers.first(name: "content-length").flatMap { Int64($0) } ?? .max)
        if let range, response.status == .ok {
            window = BodyWindow(skip: range.lowerBound, remaining: range.upperBound == .max ? .max : range.upperBound - range.lowerBound)
        }
        do {
            for try await chunk in response.body {
                let wanted = window.take(chunk)
                if wanted.readableBytes > 0 { try await sink(wanted) }
                if window.remaining == 0 { return }
            }
        } catch let error as GlimpseError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.transportError(error)
        }
        if window.remaining > 0, window.remaining != .max {
            throw GlimpseError(.unavailable, "The S3 store ended the image data early.")
        }
    }

    public func size(location: String) async throws -> Int64 {
        let loc = try target(location)
        let response = try await perform(S3Operation(method: .HEAD, bucket: loc.bucket, key: loc.key))
        guard response.status == .ok else {
            throw Self.serviceError(response, operation: "HeadObject", missing: .notFound)
        }
        guard let text = response.headers.first(name: "content-length"), let size = Int64(text), size >= 0 else {
            throw GlimpseError(.unavailable, "The S3 store did not report the size of the image data.")
        }
        return size
    }

    /// Deleting an object that is not there (or whose bucket is gone) succeeds.
    public func delete(location: String) async throws {
        let loc = try target(location)
        try await deleteObject(bucket: loc.bucket, key: loc.key)
    }

    /// Key and multipart upload id (empty before one is created), one per line.
    static func leftoversToken(key: String, uploadID: String?) -> String { key + "\n" + (uploadID ?? "") }

    /// Deletes what an abandoned write left (`S3BlobWriter.leftovers`): aborts its multipart
    /// upload, so its parts go (one already completed or aborted counts as done), and with
    /// `withObject` deletes the object.
    public func deleteLeftovers(_ token: String, withObject: Bool) async throws {
        let parts = token.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { return }
        if !parts[1].isEmpty {
            let response = try await perform(
                S3Operation(method: .DELETE, bucket: configuration.bucket, key: parts[0], query: [(name: "uploadId", value: parts[1])]))
            guard response.status.code / 100 == 2 || response.status == .notFound else {
                throw Self.serviceError(response, operation: "AbortMultipartUpload", missing: .notFound)
            }
        }
        if withObject { try await deleteObject(bucket: configuration.bucket, key: parts[0]) }
    }

    func deleteObject(bucket: String, key: String) async throws {
        let response = try await perform(S3Operation(method: .DELETE, bucket: bucket, key: key))
        if response.status.code / 100 == 2 || response.status == .notFound { return }
        throw Self.serviceError(response, operation: "DeleteObject", missing: .notFound)
    }

    // MARK: the bucket

    /// Checks once per store that the bucket exists, creating it when
    /// `s3_store_create_bucket_on_put` says so. A bucket that vanishes later makes writes fail
    /// with NoSuchBucket, which clears the mark so the next writer checks again.
    func ensureBucket() async throws {
        if bucketReady.isReady { return }
        let bucket = configuration.bucket
        let head = try await perform(S3Operation(method: .HEAD, bucket: bucket, key: nil))
        if head.status == .ok {
            bucketReady.isReady = true
            return
        }
        guard head.status == .notFound else {
            throw Self.serviceError(head, operation: "HeadBucket", missing: .unavailable)
        }
        guard configuration.createBucketOnPut else {
            throw GlimpseError(
                .unavailable,
                "The S3 bucket for images does not exist; create it or set s3_store_create_bucket_on_put.",
                underlying: S3ServiceError(operation: "HeadBucket", status: 404, code: "NoSuchBucket", requestID: nil))
        }
        try await createBucket(bucket)
        bucketReady.isReady = true
    }

    /// PUT Bucket, with a LocationConstraint outside us-east-1. An existing bucket we own
    /// (BucketAlreadyOwnedByYou, or a 409 after which HEAD succeeds: a race with another node) is fine.
    func createBucket(_ bucket: String) async throws {
        var body: ByteBuffer?
        if configuration.region != "us-east-1" {
            body = ByteBuffer(
                string:
                    "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(S3XML.escape(configuration.region))</LocationConstraint></CreateBucketConfiguration>"
            )
        }
        let response = try await perform(S3Operation(method: .PUT, bucket: bucket, key: nil), body: body)
        if response.status.code / 100 == 2 { return }
        let code = S3XML.first("Code", in: response.body)
        if code == "BucketAlreadyOwnedByYou" { return }
        if response.status == .conflict {
            let head = try await perform(S3Operation(method: .HEAD, bucket: bucket, key: nil))
            if head.status == .ok { return }
        }
        throw Self.serviceError(response, operation: "CreateBucket", missing: .unavailable)
    }

    // MARK: requests

    /// One S3 request before signing. `key` nil addresses the bucket.
    struct S3Operation: Sendable {
        var method: HTTPMethod
        var bucket: String
        var key: String?
        var query: [(name: String, value: String)] = []
        /// Headers to send and sign besides host, x-amz-date and x-amz-content-sha256.
        var headers: [(name: String, value: String)] = []
        var payloadHash: String = SigV4Signer.emptyPayloadHash

        init(
            method: HTTPMethod, bucket: String, key: String?, query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)] = [], payloadHash: String = SigV4Signer.emptyPayloadHash
        ) {
            self.method = method
            self.bucket = bucket
            self.key = key
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// Where an operation goes: host, decoded path, and the URL with path and query encoded.
    func address(_ operation: S3Operation) -> (host: String, path: String, url: String) {
        let virtual = usesVirtualHosting(bucket: operation.bucket)
        let host = virtual ? "\(operation.bucket).\(configuration.authority)" : configuration.authority
        var path = configuration.basePath
        if !virtual { path += "/\(operation.bucket)" }
        if let key = operation.key {
            path += "/\(key)"
        } else if virtual {
            path += "/"
        }
        var url = "\(configuration.scheme)://\(host)\(SigV4Signer.uriEncode(path, encodeSlash: false))"
        if !operation.query.isEmpty {
            url += "?"
                + operation.query.map {
                    "\(SigV4Signer.uriEncode($0.name, encodeSlash: true))=\(SigV4Signer.uriEncode($0.value, encodeSlash: true))"
                }.joined(separator: "&")
        }
        return (host, path, url)
    }

    func usesVirtualHosting(bucket: String) -> Bool {
        switch configuration.addressing {
        case .path: return false
        case .virtual: return S3StoreConfiguration.isVirtualHostable(bucket, https: configuration.scheme == "https")
        case .auto:
            return S3StoreConfiguration.isVirtualHostable(bucket, https: configuration.scheme == "https")
                && !S3StoreConfiguration.isIPOrLocalhost(configuration.authority)
        }
    }

    /// The signed request (no body yet) and its signature.
    func sign(_ operation: S3Operation) -> (request: HTTPClientRequest, signed: SigV4Signer.Signed) {
        let (host, path, url) = address(operation)
        let amzDate = AmzDate.string(epochSeconds: now())
        let headers: [(name: String, value: String)] =
            [(name: "host", value: host), (name: "x-amz-date", value: amzDate),
             (name: "x-amz-content-sha256", value: operation.payloadHash)] + operation.headers
        let signed = signer.sign(
            SigV4Signer.Request(
                method: operation.method.rawValue, path: path, query: operation.query, headers: headers,
                payloadHash: operation.payloadHash),
            amzDate: amzDate)
        var request = HTTPClientRequest(url: url)
        request.method = operation.method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "authorization", value: signed.authorization)
        return (request, signed)
    }

    func prepare(_ operation: S3Operation) -> HTTPClientRequest { sign(operation).request }

    /// A response whose body (an XML document, if any) has been read.
    struct S3Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String
    }

    /// Sends a request whose body (if any) is in memory and reads the whole (small) response.
    func perform(_ operation: S3Operation, body: ByteBuffer? = nil, timeout: TimeAmount? = nil) async throws -> S3Response {
        var operation = operation
        if let body, operation.payloadHash == SigV4Signer.emptyPayloadHash {
            operation.payloadHash = SigV4Signer.hexSHA256(body)
        }
        var request = prepare(operation)
        if let body { request.body = .bytes(body) }
        return try await Self.execute(client, request, timeout: timeout ?? configuration.requestTimeout)
    }

    static func execute(_ client: HTTPClient, _ request: HTTPClientRequest, timeout: TimeAmount) async throws -> S3Response {
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return S3Response(status: response.status, headers: response.headers, body: String(buffer: bytes))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw transportError(error)
        }
    }

    // MARK: errors

    /// What S3 said, for the log: operation, status, error code and request id, never the
    /// error message (which may quote the key, bucket or string to sign).
    struct S3ServiceError: Error, CustomStringConvertible {
        var operation: String
        var status: UInt
        var code: String?
        var requestID: String?
        var description: String {
            "S3 \(operation) answered \(status)\(code.map { " \($0)" } ?? "")\(requestID.map { " (request id \($0))" } ?? "")"
        }
    }

    enum Missing { case notFound, unavailable }

    /// A non-success answer as a client-safe `GlimpseError`. `missing` says what NoSuchKey /
    /// NoSuchBucket / 404 mean here: the image's data is gone (reads), or the store is broken (writes).
    static func serviceError(_ response: S3Response, operation: String, missing: Missing) -> GlimpseError {
        let code = S3XML.first("Code", in: response.body)
        let status = response.status.code
        let cause = S3ServiceError(
            operation: operation, status: status, code: code,
            requestID: S3XML.first("RequestId", in: response.body) ?? response.headers.first(name: "x-amz-request-id"))
        let label = code.map { "\(status) \($0)" } ?? "\(status)"
        switch (status, code) {
        case (_, "NoSuchKey"?), (_, "NoSuchBucket"?), (_, "NoSuchUpload"?), (404, nil):
            if missing == .notFound { return GlimpseError(.notFound, "Image data not found.", underlying: cause) }
            return GlimpseError(.unavailable, "The S3 store lost data it was writing (\(label)).", underlying: cause)
        case (416, _), (_, "InvalidRange"?):
            return GlimpseError(.rangeNotSatisfiable, "The S3 store cannot serve that byte range.", underlying: cause)
        case (413, _), (507, _), (_, "EntityTooLarge"?), (_, "QuotaExceeded"?), (_, "XMinioStorageFull"?),
            (_, "InsufficientStorage"?), (_, "StorageFull"?):
            return GlimpseError(.payloadTooLarge, "The S3 store has no room for this image (\(label)).", underlying: cause)
        case (401, _), (403, _), (_, "AccessDenied"?), (_, "SignatureDoesNotMatch"?), (_, "InvalidAccessKeyId"?),
            (_, "AuthorizationHeaderMalformed"?), (_, "RequestTimeTooSkewed"?):
            return GlimpseError(.unavailable, "The S3 store refused Glimpse's credentials (\(label)).", underlying: cause)
        case (500..., _), (_, "SlowDown"?), (_, "ServiceUnavailable"?), (_, "InternalError"?), (_, "RequestTimeout"?):
            return GlimpseError(.unavailable, "The S3 store is unavailable (\(label)).", underlying: cause)
        default:
            return GlimpseError(.unavailable, "The S3 store rejected a request (\(label)).", underlying: cause)
        }
    }

    /// Connection-level failures are the store being unavailable; the cause goes to the log only.
    static func transportError(_ error: any Error) -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        if let e = error as? HTTPClientError, [.readTimeout, .connectTimeout, .deadlineExceeded, .writeTimeout].contains(e) {
            return GlimpseError(.unavailable, "The S3 store timed out.", underlying: error)
        }
        return GlimpseError(.unavailable, "The S3 store could not be reached.", underlying: error)
    }
}

/// Whether the store's bucket is known to exist; shared by copies of the store value.
final class BucketReadiness: Sendable {
    private let ready = NIOLockedValueBox(false)
    var isReady: Bool {
        get { ready.withLockedValue { $0 } }
        set { ready.withLockedValue { $0 = newValue } }
    }
}

extension S3BlobStore {
    /// What Glance's discovery shows for an s3 store (sizes in MB, as glance_store counts them).
    public var discoveryProperties: [String: JSONValue] {
        [
            "s3_store_large_object_size": .int(configuration.largeObjectSize >> 20),
            "s3_store_large_object_chunk_size": .int(configuration.partSize >> 20),
            "s3_store_thread_pools": .int(Int64(configuration.threadPools)),
        ]
    }
}
