import AsyncHTTPClient
import Foundation
import GlimpseDomain
import GlimpseStore
@testable import GlimpseStoreDrivers
import NIOCore
import NIOHTTP1
import Testing

/// Configuration, locations and addressing of the S3 store: no server needed.
@Suite struct S3StoreUnitTests {
    static func options(_ values: [String: String]) -> StoreOptions {
        StoreOptions(
            section: "s3",
            values: ["s3_store_host": "http://127.0.0.1:8080", "s3_store_access_key": "AK", "s3_store_secret_key": "SK",
                     "s3_store_bucket": "images"].merging(values) { $1 })
    }

    static func withStore<T>(_ values: [String: String], now: Int64 = 0, _ body: (S3BlobStore) throws -> T) throws -> T {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { try? client.syncShutdown() }
        let store = S3BlobStore(
            id: "s3", configuration: try S3StoreConfiguration(options: options(values)), client: client, now: { now })
        return try body(store)
    }

    @Test func glanceStoreDefaults() throws {
        let c = try S3StoreConfiguration(options: Self.options([:]))
        #expect(c.largeObjectSize == 100 << 20)
        #expect(c.partSize == 10 << 20)
        #expect(c.threadPools == 10)
        #expect(c.region == "us-east-1")
        #expect(c.createBucketOnPut == false)
        #expect(c.addressing == .auto)
        #expect(c.payloadSigning == .streaming)
        #expect(c.locationScheme == "s3")
        #expect(c.locationHost == "127.0.0.1:8080")
        // No more than 10,000 parts: a 200 GiB image gets bigger parts.
        #expect(c.partSize(forDeclaredSize: 200 << 30) == ((200 << 30) + 9999) / 10000)
        #expect(c.partSize(forDeclaredSize: 1 << 30) == 10 << 20)
    }

    @Test func endpointForms() throws {
        let https = try S3StoreConfiguration(options: Self.options(["s3_store_host": "https://S3.Example.com/"]))
        #expect(https.scheme == "https")
        #expect(https.locationScheme == "s3+https")
        #expect(https.locationHost == "s3.example.com")
        let bare = try S3StoreConfiguration(options: Self.options(["s3_store_host": "minio.local:9000"]))
        #expect(bare.scheme == "http")
        #expect(bare.locationHost == "minio.local:9000")
        let prefixed = try S3StoreConfiguration(options: Self.options(["s3_store_host": "http://gw.example:80/s3"]))
        #expect(prefixed.authority == "gw.example:80")
        #expect(prefixed.basePath == "/s3")
        let aws = try S3StoreConfiguration(options: Self.options(["s3_store_host": "https://s3-eu-west-1.amazonaws.com"]))
        #expect(aws.region == "eu-west-1")
        let explicit = try S3StoreConfiguration(options: Self.options(["s3_store_region_name": "RegionOne"]))
        #expect(explicit.region == "RegionOne")
    }

    @Test func badConfigurationIsRefused() {
        let bad: [[String: String]] = [
            ["s3_store_host": ""],
            ["s3_store_bucket": ""],
            ["s3_store_secret_key": ""],
            ["s3_store_large_object_chunk_size": "4"],
            ["s3_store_large_object_size": "-1"],
            ["s3_store_thread_pools": "0"],
            ["s3_store_bucket_url_format": "dns"],
            ["s3_store_bucket_url_format": "virtual", "s3_store_bucket": "Not_A_DNS_Name"],
            ["s3_store_create_bucket_on_put": "maybe"],
            ["glimpse_s3_payload_signing": "md5"],
            ["glimpse_s3_large_object_chunk_size_bytes": "1024"],
            ["s3_store_host": "ftp://host"],
            ["s3_store_host": "http://AK:SK@host"],
        ]
        for values in bad {
            #expect(throws: StoreConfigurationError.self, "\(values)") { try S3StoreConfiguration(options: Self.options(values)) }
        }
        do {
            _ = try S3StoreConfiguration(options: Self.options(["s3_store_thread_pools": "0", "s3_store_secret_key": "hunter2"]))
        } catch let e as StoreConfigurationError {
            #expect(e.message.contains("[s3] s3_store_thread_pools"))
            #expect(!e.message.contains("hunter2"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func locationsHaveNoCredentials() throws {
        try Self.withStore([:]) { store in
            let location = store.location(forKey: "8f4e-image")
            #expect(location == "s3://127.0.0.1:8080/images/8f4e-image")
            #expect(store.handles(location: location))
            // A Glance database's legacy form, secret with a slash in it: ours, read with our keys.
            let legacy = "s3://OLDKEY:old/secret+key@127.0.0.1:8080/images/8f4e-image"
            #expect(store.handles(location: legacy))
            let target = try store.target(legacy)
            #expect(target == S3Location(scheme: "s3", host: "127.0.0.1:8080", bucket: "images", key: "8f4e-image"))
            #expect(S3Location(legacy)?.uri == location)
            #expect(store.handles(location: "s3+http://127.0.0.1:8080/images/x"))
            #expect(!store.handles(location: "s3://other-host:8080/images/x"))
            #expect(!store.handles(location: "s3://OLD:KEY@https://127.0.0.1:8080/images/x"))
            #expect(!store.handles(location: "s3://127.0.0.1:8080/images"))
            #expect(!store.handles(location: "file:///var/lib/glance/images/x"))
            #expect(!store.handles(location: "swift+http://127.0.0.1:8080/v1/AUTH_x/images/x"))
        }
        try Self.withStore(["s3_store_host": "https://s3.example.com"]) { store in
            #expect(store.location(forKey: "abc") == "s3+https://s3.example.com/images/abc")
            #expect(store.handles(location: "s3+https://AK:SK@s3.example.com/images/abc"))
        }
    }

    /// Path-style on an IP address (what `auto` picks there, as botocore does).
    @Test func pathStyleAddressing() throws {
        try Self.withStore([:]) { store in
            #expect(!store.usesVirtualHosting(bucket: "images"))
            let op = S3BlobStore.S3Operation(method: .GET, bucket: "images", key: "a b+c")
            let address = store.address(op)
            #expect(address.host == "127.0.0.1:8080")
            #expect(address.url == "http://127.0.0.1:8080/images/a%20b%2Bc")
            let signed = store.sign(op)
            #expect(signed.request.headers.first(name: "host") == "127.0.0.1:8080")
            #expect(signed.signed.canonicalRequest.hasPrefix("GET\n/images/a%20b%2Bc\n\nhost:127.0.0.1:8080\n"))
            let uploads = store.address(
                S3BlobStore.S3Operation(method: .POST, bucket: "images", key: "k", query: [(name: "uploads", value: "")]))
            #expect(uploads.url == "http://127.0.0.1:8080/images/k?uploads=")
        }
    }

    /// Virtual-hosted addressing, end to end through the store's own request signing: with the
    /// S3 documentation's keys, clock and object, the store's GET with a Range carries the
    /// signature AWS publishes for that example.
    @Test func virtualHostedAddressingSignsLikeTheS3Documentation() throws {
        let values = [
            "s3_store_host": "http://s3.amazonaws.com", "s3_store_bucket": "examplebucket",
            "s3_store_access_key": "AKIAIOSFODNN7EXAMPLE", "s3_store_secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ]
        for format in ["auto", "virtual"] {
            try Self.withStore(values.merging(["s3_store_bucket_url_format": format]) { $1 }, now: 1_369_353_600) { store in
                #expect(store.configuration.region == "us-east-1")
                #expect(store.usesVirtualHosting(bucket: "examplebucket"))
                let op = S3BlobStore.S3Operation(
                    method: .GET, bucket: "examplebucket", key: "test.txt", headers: [(name: "range", value: "bytes=0-9")])
                #expect(store.address(op).url == "http://examplebucket.s3.amazonaws.com/test.txt")
                let (request, signed) = store.sign(op)
                #expect(request.headers.first(name: "host") == "examplebucket.s3.amazonaws.com")
                #expect(request.headers.first(name: "x-amz-date") == "20130524T000000Z")
                #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
                #expect(
                    request.headers.first(name: "authorization")
                        == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                )
                // A bucket-level request is `/` on the bucket's host.
                #expect(
                    store.address(S3BlobStore.S3Operation(method: .HEAD, bucket: "examplebucket", key: nil)).url
                        == "http://examplebucket.s3.amazonaws.com/")
            }
        }
        // `path` keeps the bucket in the path, and `auto` does too for a name that is not a DNS label.
        try Self.withStore(values.merging(["s3_store_bucket_url_format": "path"]) { $1 }, now: 1_369_353_600) { store in
            let op = S3BlobStore.S3Operation(method: .GET, bucket: "examplebucket", key: "test.txt")
            #expect(store.address(op).url == "http://s3.amazonaws.com/examplebucket/test.txt")
        }
        try Self.withStore(values.merging(["s3_store_bucket": "Example_Bucket"]) { $1 }) { store in
            #expect(!store.usesVirtualHosting(bucket: "Example_Bucket"))
        }
    }

    @Test func s3ErrorsAreMappedWithoutLeaking() {
        func response(_ status: UInt, _ code: String?) -> S3BlobStore.S3Response {
            let body = code.map {
                "<?xml version=\"1.0\"?><Error><Code>\($0)</Code><Message>The key images/secret-key AKIA was bad</Message><Resource>/images/k</Resource><RequestId>tx123</RequestId></Error>"
            } ?? ""
            return S3BlobStore.S3Response(status: .init(statusCode: Int(status)), headers: [:], body: body)
        }
        let cases: [(UInt, String?, S3BlobStore.Missing, GlimpseError.Code)] = [
            (404, "NoSuchKey", .notFound, .notFound),
            (404, nil, .notFound, .notFound),
            (404, "NoSuchBucket", .unavailable, .unavailable),
            (416, "InvalidRange", .notFound, .rangeNotSatisfiable),
            (400, "EntityTooLarge", .unavailable, .payloadTooLarge),
            (507, nil, .unavailable, .payloadTooLarge),
            (403, "SignatureDoesNotMatch", .notFound, .unavailable),
            (403, "AccessDenied", .notFound, .unavailable),
            (503, "SlowDown", .notFound, .unavailable),
            (500, "InternalError", .notFound, .unavailable),
            (400, "InvalidArgument", .unavailable, .unavailable),
        ]
        for (status, code, missing, expected) in cases {
            let e = S3BlobStore.serviceError(response(status, code), operation: "GetObject", missing: missing)
            #expect(e.code == expected, "\(status) \(code ?? "-")")
            #expect(!e.message.contains("images"))
            #expect(!e.message.contains("AKIA"))
            #expect(!e.message.contains("/"))
            if code != nil { #expect("\(e.underlying!)".contains("tx123")) }
            #expect(!"\(e.underlying!)".contains("AKIA"))
        }
    }

    @Test func xmlValues() {
        let doc = """
            <?xml version="1.0" encoding="UTF-8"?>
            <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>\
            <Key>a&amp;b &#x41;&#66;</Key><UploadId>VXBsb2Fk</UploadId></InitiateMultipartUploadResult>
            """
        #expect(S3XML.first("UploadId", in: doc) == "VXBsb2Fk")
        #expect(S3XML.first("Key", in: doc) == "a&b AB")
        #expect(S3XML.first("Missing", in: doc) == nil)
        let list = "<R><Upload><Key>x</Key><UploadId>1</UploadId></Upload><Upload><Key>y</Key><UploadId>2</UploadId></Upload></R>"
        #expect(S3XML.blocks("Upload", in: list).compactMap { S3XML.first("Key", in: $0) } == ["x", "y"])
        #expect(S3XML.escape("\"a\"&<b>") == "&quot;a&quot;&amp;&lt;b&gt;")
    }
}

// MARK: - Real servers

/// One S3 server from the environment (`GLIMPSE_<NAME>_S3_ENDPOINT`, `_ACCESS_KEY`, `_SECRET_KEY`,
/// `_REGION`), as `shared/services/start-object-store.sh` prints them.
struct S3TestServer: Sendable {
    let name: String
    let endpoint: String
    let accessKey: String
    let secretKey: String
    let region: String

    static func load(_ prefix: String, name: String) -> S3TestServer? {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["\(prefix)_ENDPOINT"], !endpoint.isEmpty, let access = env["\(prefix)_ACCESS_KEY"],
            let secret = env["\(prefix)_SECRET_KEY"]
        else { return nil }
        return S3TestServer(
            name: name, endpoint: endpoint, accessKey: access, secretKey: secret, region: env["\(prefix)_REGION"] ?? "us-east-1")
    }

    /// The test store: 5 MiB parts, the bucket created on first put, path-style addressing.
    func options(bucket: String = S3Live.bucket, _ extra: [String: String] = [:]) -> StoreOptions {
        StoreOptions(
            section: "s3",
            values: [
                "s3_store_host": endpoint, "s3_store_access_key": accessKey, "s3_store_secret_key": secretKey,
                "s3_store_bucket": bucket, "s3_store_create_bucket_on_put": "true", "s3_store_region_name": region,
                "s3_store_bucket_url_format": "path", "s3_store_large_object_chunk_size": "5",
                "s3_store_thread_pools": "4",
            ].merging(extra) { $1 })
    }
}

enum S3Live {
    static let bucket = "glimpse-test-s3"
    static let required = ProcessInfo.processInfo.environment["GLIMPSE_REQUIRE_OBJECT_STORE"] == "1"
    static let swift = S3TestServer.load("GLIMPSE_SWIFT_S3", name: "swift-s3api")
    static let seaweedfs = S3TestServer.load("GLIMPSE_SEAWEEDFS_S3", name: "seaweedfs")

    /// The server, or a recorded failure when `GLIMPSE_REQUIRE_OBJECT_STORE=1` demands it.
    static func require(_ server: S3TestServer?, _ prefix: String) -> S3TestServer? {
        if server == nil {
            Issue.record("GLIMPSE_REQUIRE_OBJECT_STORE=1 but \(prefix)_ENDPOINT/_ACCESS_KEY/_SECRET_KEY are not set")
        }
        return server
    }

    static func withClient<T: Sendable>(
        connectTimeout: TimeAmount = .seconds(5), _ body: @Sendable (HTTPClient) async throws -> T
    ) async throws -> T {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: S3BlobStore.clientConfiguration(connectTimeout: connectTimeout, readTimeout: .seconds(120)))
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// What the tests ask of a server besides the `BlobStore` calls: listings that prove nothing
/// is left behind (objects and in-progress multipart uploads), ETags, raw bucket deletion.
extension S3BlobStore {
    func listObjectKeys(bucket: String) async throws -> [String] {
        var keys: [String] = []
        var marker = ""
        while true {
            var query: [(name: String, value: String)] = [(name: "max-keys", value: "1000")]
            if !marker.isEmpty { query.append((name: "marker", value: marker)) }
            let r = try await perform(S3Operation(method: .GET, bucket: bucket, key: nil, query: query))
            guard r.status == .ok else { throw S3BlobStore.serviceError(r, operation: "ListObjects", missing: .unavailable) }
            let page = S3XML.blocks("Contents", in: r.body).compactMap { S3XML.first("Key", in: $0) }
            keys += page
            guard S3XML.first("IsTruncated", in: r.body) == "true", let last = S3XML.first("NextMarker", in: r.body) ?? page.last
            else { return keys }
            marker = last
        }
    }

    func listMultipartUploadKeys(bucket: String) async throws -> [String] {
        var keys: [String] = []
        var keyMarker = ""
        var idMarker = ""
        while true {
            var query: [(name: String, value: String)] = [(name: "uploads", value: "")]
            if !keyMarker.isEmpty {
                query += [(name: "key-marker", value: keyMarker), (name: "upload-id-marker", value: idMarker)]
            }
            let r = try await perform(S3Operation(method: .GET, bucket: bucket, key: nil, query: query))
            guard r.status == .ok else {
                throw S3BlobStore.serviceError(r, operation: "ListMultipartUploads", missing: .unavailable)
            }
            keys += S3XML.blocks("Upload", in: r.body).compactMap { S3XML.first("Key", in: $0) }
            guard S3XML.first("IsTruncated", in: r.body) == "true", let k = S3XML.first("NextKeyMarker", in: r.body) else {
                return keys
            }
            keyMarker = k
            idMarker = S3XML.first("NextUploadIdMarker", in: r.body) ?? ""
        }
    }

    /// Objects whose key contains `marker`, and in-progress multipart uploads of such keys.
    func leftovers(containing marker: String, bucket: String? = nil) async throws -> [String] {
        let bucket = bucket ?? configuration.bucket
        let objects = try await listObjectKeys(bucket: bucket).filter { $0.contains(marker) }
        let uploads = try await listMultipartUploadKeys(bucket: bucket).filter { $0.contains(marker) }
        return objects.map { "object \($0)" } + uploads.map { "multipart upload \($0)" }
    }

    func etag(_ location: String) async throws -> String {
        let loc = try target(location)
        let r = try await perform(S3Operation(method: .HEAD, bucket: loc.bucket, key: loc.key))
        return r.headers.first(name: "etag") ?? ""
    }

    func deleteBucket(_ bucket: String) async throws {
        for key in try await listObjectKeys(bucket: bucket) { try await deleteObject(bucket: bucket, key: key) }
        let r = try await perform(S3Operation(method: .DELETE, bucket: bucket, key: nil))
        guard r.status.code / 100 == 2 else { throw S3BlobStore.serviceError(r, operation: "DeleteBucket", missing: .unavailable) }
    }
}

/// The checks every real server gets.
struct S3LiveChecks {
    let server: S3TestServer
    let client: HTTPClient

    func store(bucket: String = S3Live.bucket, _ extra: [String: String] = [:]) throws -> S3BlobStore {
        try S3BlobStore(id: "s3", options: server.options(bucket: bucket, extra), client: client)
    }

    func conformance(_ label: String, _ store: S3BlobStore) -> BlobStoreConformance {
        BlobStoreConformance(name: "\(server.name) \(label)", store: store) { marker in
            try await store.leftovers(containing: marker)
        }
    }

    /// Images of unknown size that fit in a part go as one PUT (the default 100 MB threshold).
    func conformanceSinglePut() async throws {
        try await conformance("single-put", store()).runAll()
    }

    /// Threshold 0: every non-empty image is a multipart upload, so cancel must abort one.
    func conformanceMultipart() async throws {
        try await conformance("multipart", store(["s3_store_large_object_size": "0"])).runAll()
    }

    func conformanceUnsignedPayloads() async throws {
        try await conformance("unsigned", store(["glimpse_s3_payload_signing": "unsigned", "s3_store_large_object_size": "0"]))
            .runAll()
    }

    /// The conformance suite's 1 GiB round trip, size undeclared (buffered 5 MiB parts); timed
    /// as a whole, since the suite writes, sizes and reads back in one call.
    func largeObjectFlatMemory() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await conformance("multipart", store(["s3_store_large_object_size": "0"])).largeObjectStreamsWithFlatMemory()
        let seconds = (clock.now - start) / .seconds(1)
        print("[\(server.name)] 1024 MiB, size undeclared (buffered 5 MiB parts): upload + download in \(String(format: "%.1f", seconds)) s, \(String(format: "%.0f", 2048 / seconds)) MiB/s overall")
    }

    func write(_ store: S3BlobStore, _ id: String, _ data: [UInt8], declared: Int64?, chunk: Int = 64 * 1024) async throws -> String {
        try await BlobStoreConformance(name: "s3", store: store) { _ in [] }.write(id, data, chunk: chunk, declared: declared)
    }

    func read(_ store: S3BlobStore, _ location: String, _ range: Range<Int64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(location: location, range: range) { out += Array($0.readableBytesView) }
        return out
    }

    /// A declared size picks the strategy: one streamed PUT below the threshold, streamed
    /// parts at or above it. Multipart objects have `-<parts>` ETags.
    func declaredSizes() async throws {
        let run = "t\(UInt32.random(in: .min ... .max))"
        for signing in ["streaming", "unsigned"] {
            let store = try store(["glimpse_s3_large_object_size_bytes": "\(1 << 20)", "glimpse_s3_payload_signing": signing])
            let small = bytes(300_001, seed: 3)
            let one = try await write(store, "\(run)-\(signing)-one", small, declared: Int64(small.count), chunk: 10_000)
            #expect(try await read(store, one) == small, "\(server.name) \(signing)")
            #expect(!(try await store.etag(one)).contains("-"), "\(server.name) \(signing): one PUT")
            try await store.delete(location: one)

            let large = bytes(12 << 20, seed: 4)
            let parts = try await write(store, "\(run)-\(signing)-parts", large, declared: Int64(large.count), chunk: 100_000)
            #expect(try await store.etag(parts).hasSuffix("-3\""), "\(server.name) \(signing): three parts")
            #expect(try await store.size(location: parts) == Int64(large.count))
            #expect(try await read(store, parts) == large, "\(server.name) \(signing)")
            let boundary = Int64(5 << 20)
            #expect(try await read(store, parts, (boundary - 3)..<(boundary + 5)) == Array(large[Int(boundary - 3)..<Int(boundary + 5)]))
            try await store.delete(location: parts)
            #expect(try await store.leftovers(containing: "\(run)-\(signing)").isEmpty, "\(server.name) \(signing)")
        }
        // A declared empty image is one empty PUT.
        let store = try store()
        let empty = try await write(store, "\(run)-empty", [], declared: 0)
        #expect(try await read(store, empty) == [])
        try await store.delete(location: empty)
    }

    /// Cancelling at every stage leaves no object and no multipart upload behind.
    func cancellationLeavesNothing() async throws {
        let run = "t\(UInt32.random(in: .min ... .max))"
        let store = try store(["glimpse_s3_large_object_size_bytes": "\(1 << 20)"])
        func cancelAfter(_ id: String, declared: Int64?, writing count: Int) async throws {
            let writer = try await store.makeWriter(imageID: id, expectedSize: declared)
            var sent = 0
            while sent < count {
                let n = min(1 << 20, count - sent)
                try await writer.write(ByteBuffer(bytes: bytes(n, seed: UInt64(sent))))
                sent += n
            }
            await writer.cancel()
            let left = try await store.leftovers(containing: id)
            #expect(left.isEmpty, "\(server.name) \(id): \(left)")
        }
        // One streamed PUT with every byte sent: the held-back end never went, so no object.
        try await cancelAfter("\(run)-put-all", declared: 900_000, writing: 900_000)
        try await cancelAfter("\(run)-put-some", declared: 900_000, writing: 300_000)
        // Streamed parts: two complete parts and one part half sent.
        try await cancelAfter("\(run)-parts", declared: 20 << 20, writing: 12 << 20)
        // Unknown size: two parts uploaded, a third gathering.
        try await cancelAfter("\(run)-unknown", declared: nil, writing: 12 << 20)

        // A stream shorter or longer than declared fails and leaves nothing.
        let short = try await store.makeWriter(imageID: "\(run)-short", expectedSize: 2 << 20)
        try await short.write(ByteBuffer(bytes: bytes(1 << 20)))
        await #expect(throws: GlimpseError.self) { _ = try await short.commit() }
        await short.cancel()
        let long = try await store.makeWriter(imageID: "\(run)-long", expectedSize: 10)
        await #expect(throws: GlimpseError.self) { try await long.write(ByteBuffer(bytes: bytes(20))) }
        await long.cancel()
        #expect(try await store.leftovers(containing: run).isEmpty, "\(server.name)")
    }

    /// A write whose process died (neither committed nor cancelled) leaves its multipart upload
    /// open with its parts, and one committed but never recorded leaves its object; the
    /// writer's `leftovers` token is all another node needs to delete them.
    func abandonedWriteLeftovers() async throws {
        let run = "t\(UInt32.random(in: .min ... .max))"
        let store = try store(["glimpse_s3_large_object_size_bytes": "\(1 << 20)"])
        let writer = try await store.makeWriter(imageID: "\(run)-abandoned", expectedSize: 20 << 20)
        for i in 0..<10 { try await writer.write(ByteBuffer(bytes: bytes(1 << 20, seed: UInt64(i)))) }
        let token = try #require(writer.leftovers, "\(server.name)")
        try await Task.sleep(for: .seconds(1))  // the part requests answered: as if the process were gone
        #expect(try await store.leftovers(containing: run).contains { $0.hasPrefix("multipart upload") }, "\(server.name)")
        try await store.deleteLeftovers(token, withObject: false)
        #expect(try await store.leftovers(containing: run).isEmpty, "\(server.name)")
        try await store.deleteLeftovers(token, withObject: false)  // again: already aborted is fine
        await writer.cancel()

        let single = try await store.makeWriter(imageID: "\(run)-single", expectedSize: 1000)
        let singleToken = try #require(single.leftovers, "\(server.name)")
        try await single.write(ByteBuffer(bytes: bytes(1000)))
        _ = try await single.commit()
        try await store.deleteLeftovers(singleToken, withObject: false)
        #expect(try await store.leftovers(containing: "\(run)-single").count == 1, "\(server.name): the object stays")
        try await store.deleteLeftovers(singleToken, withObject: true)
        #expect(try await store.leftovers(containing: run).isEmpty, "\(server.name)")
    }

    /// Locations an older Glance wrote carry `access:secret@`; they are read and deleted with
    /// the configured credentials, whatever the URI says.
    func legacyLocations() async throws {
        let store = try store()
        let id = "t\(UInt32.random(in: .min ... .max))-legacy"
        let location = try await write(store, id, [1, 2, 3], declared: 3)
        #expect(!location.contains("\(server.accessKey):"))
        #expect(!location.contains(server.secretKey))
        #expect(!location.contains("@"))
        let legacy = location.replacingOccurrences(of: "s3://", with: "s3://OLDACCESS:old/secret@")
        #expect(store.handles(location: legacy))
        #expect(try await read(store, legacy) == [1, 2, 3])
        #expect(try await store.size(location: legacy) == 3)
        try await store.delete(location: legacy)
        await #expect(throws: GlimpseError.self) { _ = try await store.size(location: location) }
    }

    /// Missing data, an impossible range and refused credentials become client-safe errors.
    func errorMapping() async throws {
        let store = try store()
        let location = store.location(forKey: "t\(UInt32.random(in: .min ... .max))-missing")
        do {
            _ = try await read(store, location)
            Issue.record("\(server.name): read of a missing object succeeded")
        } catch let e as GlimpseError {
            #expect(e.code == .notFound, "\(server.name): \(e)")
        }
        let present = try await write(store, "t\(UInt32.random(in: .min ... .max))-range", bytes(100), declared: 100)
        do {
            _ = try await read(store, present, 500..<600)
            Issue.record("\(server.name): a range past the end succeeded")
        } catch let e as GlimpseError {
            #expect(e.code == .rangeNotSatisfiable, "\(server.name): \(e)")
        }
        try await store.delete(location: present)

        let wrongSecret = "not-the-secret-\(UInt32.random(in: .min ... .max))"
        let bad = try S3BlobStore(
            id: "s3", options: server.options(["s3_store_secret_key": wrongSecret]), client: client)
        for attempt in ["read", "write"] {
            do {
                if attempt == "read" {
                    _ = try await read(bad, location)
                } else {
                    _ = try await write(bad, "x", [1], declared: 1)
                }
                Issue.record("\(server.name): \(attempt) with a wrong secret succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .unavailable, "\(server.name) \(attempt): \(e)")
                for leak in [wrongSecret, server.accessKey, server.endpoint, "127.0.0.1", S3Live.bucket] {
                    #expect(!e.message.contains(leak), "\(server.name) \(attempt): \(e.message)")
                }
            }
        }
    }

    /// `s3_store_create_bucket_on_put` creates a missing bucket on the first write; without
    /// it the write is refused; creating a bucket we already own is fine.
    func bucketCreation() async throws {
        let bucket = "glimpse-test-s3-new-\(UInt32.random(in: .min ... .max))"
        let refusing = try store(bucket: bucket, ["s3_store_create_bucket_on_put": "false"])
        do {
            _ = try await refusing.makeWriter(imageID: "x", expectedSize: 1)
            Issue.record("\(server.name): a write to a missing bucket started")
        } catch let e as GlimpseError {
            #expect(e.code == .unavailable)
            #expect(!e.message.contains(bucket))
        }
        let creating = try store(bucket: bucket)
        let location = try await write(creating, "first", [7], declared: 1)
        #expect(try await read(creating, location) == [7])
        try await creating.createBucket(bucket)  // BucketAlreadyOwnedByYou, or 200 on servers that say so
        try await creating.deleteBucket(bucket)
    }
}

/// The S3 driver against real servers: OpenStack Swift's s3api and SeaweedFS. Each test runs
/// when its server's variables are set, and fails without them if `GLIMPSE_REQUIRE_OBJECT_STORE=1`.
/// Serialized: the 1 GiB checks sample this process's memory.
@Suite(.serialized) struct S3StoreLiveTests {
    static func run(_ server: S3TestServer?, _ prefix: String, _ body: @Sendable (S3LiveChecks) async throws -> Void)
        async throws
    {
        guard let server = S3Live.require(server, prefix) else { return }
        try await S3Live.withClient { client in try await body(S3LiveChecks(server: server, client: client)) }
    }

    static func behaviour(_ checks: S3LiveChecks) async throws {
        try await checks.conformanceSinglePut()
        try await checks.conformanceMultipart()
        try await checks.conformanceUnsignedPayloads()
        try await checks.declaredSizes()
        try await checks.cancellationLeavesNothing()
        try await checks.abandonedWriteLeftovers()
        try await checks.legacyLocations()
        try await checks.errorMapping()
        try await checks.bucketCreation()
    }

    @Test(.enabled(if: S3Live.swift != nil || S3Live.required))
    func swiftS3api() async throws {
        try await Self.run(S3Live.swift, "GLIMPSE_SWIFT_S3", Self.behaviour)
    }

    @Test(.enabled(if: S3Live.seaweedfs != nil || S3Live.required))
    func seaweedfs() async throws {
        try await Self.run(S3Live.seaweedfs, "GLIMPSE_SEAWEEDFS_S3", Self.behaviour)
    }

    @Test(.enabled(if: S3Live.swift != nil || S3Live.required))
    func swiftS3apiLargeObject() async throws {
        try await Self.run(S3Live.swift, "GLIMPSE_SWIFT_S3") { checks in
            try await checks.largeObjectFlatMemory()
            try await S3Throughput.measure(checks)
        }
    }

    @Test(.enabled(if: S3Live.seaweedfs != nil || S3Live.required))
    func seaweedfsLargeObject() async throws {
        try await Self.run(S3Live.seaweedfs, "GLIMPSE_SEAWEEDFS_S3") { checks in
            try await checks.largeObjectFlatMemory()
            try await S3Throughput.measure(checks)
        }
    }

    /// Nothing listening: every operation is a 503 naming no address or key.
    @Test func closedPortIsUnavailable() async throws {
        try await S3Live.withClient(connectTimeout: .seconds(1)) { client in
            let store = try S3BlobStore(
                id: "s3",
                options: StoreOptions(
                    section: "s3",
                    values: [
                        "s3_store_host": "http://127.0.0.1:9", "s3_store_access_key": "AKDOWN",
                        "s3_store_secret_key": "secret-down", "s3_store_bucket": "glimpse-test-s3",
                        "s3_store_create_bucket_on_put": "true",
                    ]), client: client)
            await BlobStoreConformance.expectUnavailable(
                "s3", store, location: store.location(forKey: "image"), secrets: ["AKDOWN", "secret-down", "glimpse-test-s3"])
        }
    }
}

/// 1 GiB up and down with a declared size (streamed parts, signed chunks), timed and with the
/// process's resident memory sampled; prints MiB/s.
enum S3Throughput {
    static func measure(_ checks: S3LiveChecks) async throws {
        let store = try checks.store(["s3_store_large_object_size": "5"])
        let size: Int64 = 1 << 30
        let chunk = 1 << 20
        var pattern = ByteBuffer(bytes: bytes(chunk, seed: 11))
        let sampler = RSSSampler()
        let baseline = sampler.start()
        let id = "t\(UInt32.random(in: .min ... .max))-timed"
        let clock = ContinuousClock()
        let upStart = clock.now
        let writer = try await store.makeWriter(imageID: id, expectedSize: size)
        var written: Int64 = 0
        var counter: UInt64 = 0
        do {
            while written < size {
                counter += 1
                pattern.setInteger(counter, at: 0)
                try await writer.write(pattern.getSlice(at: 0, length: chunk)!)
                written += Int64(chunk)
            }
        } catch {
            await writer.cancel()
            throw error
        }
        let location = try await writer.commit()
        let up = clock.now - upStart
        let downStart = clock.now
        var received: Int64 = 0
        try await store.read(location: location, range: nil) { received += Int64($0.readableBytes) }
        let down = clock.now - downStart
        let peak = await sampler.stop()
        #expect(received == size)
        func rate(_ d: Duration) -> String {
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            return String(format: "%.0f MiB/s", Double(size >> 20) / seconds)
        }
        print(
            "[\(checks.server.name)] 1024 MiB, declared size (streamed 5 MiB parts, signed chunks): upload \(rate(up)), download \(rate(down)); resident memory grew by \((peak - baseline) >> 20) MiB"
        )
        #expect(peak - baseline < 96 << 20)
        try await store.delete(location: location)
    }
}
