import AsyncHTTPClient
import Crypto
import Foundation
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// An in-process origin server for the http store: ranges honoured on `/data`, ignored on
/// `/norange`, a redirect, a 404, and a 500.
enum Origin {
    static let data = bytes(300_000, seed: 7)

    static func app() -> some ApplicationProtocol {
        let router = Router()
        router.get("/data") { request, _ in serve(request, ranges: true) }
        router.head("/data") { _, _ in
            var h = HTTPFields()
            h[.contentLength] = "\(data.count)"
            return Response(status: .ok, headers: h)
        }
        router.get("/norange") { request, _ in serve(request, ranges: false) }
        router.head("/nolength") { _, _ in Response(status: .ok, body: ResponseBody { writer in try await writer.finish(nil) }) }
        router.get("/redirect") { _, _ in Response(status: .found, headers: [.location: "/data"]) }
        router.head("/redirect") { _, _ in Response(status: .found, headers: [.location: "/data"]) }
        router.get("/broken") { _, _ in Response(status: .internalServerError) }
        return Application(router: router)
    }

    static func serve(_ request: Request, ranges: Bool) -> Response {
        var slice = data[...]
        var status = HTTPResponse.Status.ok
        if ranges, let r = request.headers[.range], r.hasPrefix("bytes=") {
            let parts = r.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 2, let lo = Int(parts[0]) {
                let hi = min(Int(parts[1]) ?? (data.count - 1), data.count - 1)
                slice = data[lo...hi]
                status = .partialContent
            }
        }
        return Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: slice)))
    }

    /// Runs `body` with the origin listening on a free loopback port.
    static func withOrigin<T: Sendable>(_ body: @Sendable (_ base: String) async throws -> T) async throws -> T {
        try await app().test(.live) { client in
            try await body("http://127.0.0.1:\(client.port!)")
        }
    }
}

@Suite struct HTTPStoreTests {
    func read(_ store: HTTPBlobStore, _ url: String, _ range: Range<Int64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(location: url, range: range) { out += Array($0.readableBytesView) }
        return out
    }

    func withStore<T: Sendable>(_ body: @Sendable (HTTPBlobStore) async throws -> T) async throws -> T {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPBlobStore.clientConfiguration(
            connectTimeout: .seconds(2), readTimeout: .seconds(5)))
        do {
            let result = try await body(HTTPBlobStore(client: client))
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test func readsWholeAndRanges() async throws {
        try await Origin.withOrigin { (base) async throws in
            try await withStore { (store) async throws in
                let d = Origin.data
                #expect(store.capabilities.readOnly)
                #expect(store.handles(location: base + "/data"))
                #expect(!store.handles(location: "file:///etc/passwd"))
                #expect(try await read(store, base + "/data") == d)
                #expect(try await read(store, base + "/data", 5..<17) == Array(d[5..<17]))
                #expect(try await read(store, base + "/data", 250_000..<300_000) == Array(d[250_000...]))
                // A server that ignores Range still yields exactly the range.
                #expect(try await read(store, base + "/norange", 1000..<1010) == Array(d[1000..<1010]))
                #expect(try await read(store, base + "/redirect") == d)
                #expect(try await store.size(location: base + "/data") == Int64(d.count))
                #expect(try await store.size(location: base + "/redirect") == Int64(d.count))
            }
        }
    }

    @Test func errorsAreGlimpseErrors() async throws {
        try await Origin.withOrigin { (base) async throws in
            try await withStore { (store) async throws in
                await #expect(throws: GlimpseError.self) { _ = try await read(store, base + "/missing") }
                do {
                    _ = try await read(store, base + "/missing")
                } catch let e as GlimpseError {
                    #expect(e.code == .notFound)
                }
                do {
                    _ = try await read(store, base + "/broken")
                    Issue.record("a 500 must fail")
                } catch let e as GlimpseError {
                    #expect(e.code == .unavailable)
                }
                do {
                    _ = try await store.size(location: base + "/nolength")
                    Issue.record("no Content-Length must fail")
                } catch let e as GlimpseError {
                    #expect(e.code == .badRequest)
                }
                do {
                    _ = try await store.makeWriter(imageID: "x")
                    Issue.record("the http store is read-only")
                } catch let e as GlimpseError {
                    #expect(e.code == .forbidden)
                }
                // Delete leaves remote data alone and succeeds.
                try await store.delete(location: base + "/data")
                #expect(try await read(store, base + "/data", 0..<3) == Array(Origin.data[0..<3]))
            }
        }
        // Nothing listening: unavailable, with no address in the message.
        try await withStore { (store) async throws in
            do {
                _ = try await read(store, "http://127.0.0.1:9/data")
                Issue.record("a closed port must fail")
            } catch let e as GlimpseError {
                #expect(e.code == .unavailable)
                #expect(!e.message.contains("127.0.0.1"))
            }
        }
    }
}

/// v1's `x-image-meta-location` and `x-glance-api-copy-from` against the origin server.
@Suite struct ImageAPIv1ExternalDataTests {
    static let meta = ImageAPIv1Tests.meta

    func md5(_ data: [UInt8]) -> String { Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    func withGlimpse(_ body: @escaping @Sendable (_ c: Client, _ g: TestGlimpse, _ base: String) async throws -> Void) async throws {
        try await Origin.withOrigin { (base) async throws in
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPBlobStore.clientConfiguration())
            do {
                let g = try await TestGlimpse.make(extraStores: [HTTPBlobStore(client: client)])
                try await g.test { (c) async throws in try await body(c, g, base) }
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    func waitForStatus(_ c: Client, _ id: String, notIn: Set<String> = ["queued", "saving"]) async throws -> String {
        for _ in 0..<200 {
            let status = try await c.send(.head, "/v1/images/\(id)").headers[HTTPField.Name("x-image-meta-status")!] ?? ""
            if !notIn.contains(status) { return status }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("image \(id) stayed in \(notIn)")
    }

    @Test func locationRegistersExternalData() async throws {
        try await withGlimpse { (c, g, base) async throws in
            let r = try await c.send(.post, "/v1/images", headers: Self.meta.merging(["x-image-meta-location": base + "/data"]) { $1 })
            #expect(r.status == .created)
            let image = try #require(r.json["image"]?.objectValue)
            #expect(image["status"] == .string("active"))
            #expect(image["size"] == .int(Int64(Origin.data.count)))
            #expect(image["location"] == nil, "locations are redacted")
            let id = try #require(image["id"]?.stringValue)
            let got = try await c.send(.get, "/v1/images/\(id)")
            #expect(Array(got.body.readableBytesView) == Origin.data)
            #expect(Array(try await c.send(.get, "/v2/images/\(id)/file").body.readableBytesView) == Origin.data)
            #expect(g.store.objectCount == 0, "nothing was copied")
            // Deleting the image leaves the origin's data alone.
            #expect(try await c.send(.delete, "/v1/images/\(id)").status == .ok)
        }
    }

    @Test func locationErrors() async throws {
        try await withGlimpse { (c, g, base) async throws in
            for (url, who) in [
                ("file:///etc/passwd", Who.admin), (base + "/missing", Who.admin), (base + "/nolength", Who.admin),
                (base + "/data", Who.alice),
            ] {
                let r = try await c.send(.post, "/v1/images", as: who, headers: Self.meta.merging(["x-image-meta-location": url]) { $1 })
                #expect(r.status == (who == Who.alice ? .forbidden : .badRequest), "\(url)")
                #expect(!String(buffer: r.body).contains("passwd") || url.hasPrefix("file"))
            }
            // Nothing half-made remains.
            #expect(try await c.ids("").isEmpty)
            let both = try await c.send(.post, "/v1/images", body: ByteBuffer(bytes: [1, 2]), contentType: "application/octet-stream",
                                        headers: Self.meta.merging(["x-image-meta-location": base + "/data"]) { $1 })
            #expect(both.status == .badRequest)
            let wrongSize = try await c.send(.post, "/v1/images", headers: Self.meta.merging([
                "x-image-meta-location": base + "/data", "x-image-meta-size": "12"]) { $1 })
            #expect(wrongSize.status == .badRequest)
            #expect(try await c.ids("").isEmpty)
        }
    }

    @Test func copyFromFetchesInTheBackground() async throws {
        try await withGlimpse { (c, g, base) async throws in
            let r = try await c.send(.post, "/v1/images", headers: Self.meta.merging([
                "x-glance-api-copy-from": base + "/redirect", "x-image-meta-checksum": md5(Origin.data)]) { $1 })
            #expect(r.status == .created)
            let id = try #require(r.json["image"]?.objectValue?["id"]?.stringValue)
            #expect(try await waitForStatus(c, id) == "active")
            let get = try await c.send(.get, "/v1/images/\(id)")
            #expect(Array(get.body.readableBytesView) == Origin.data)
            #expect(get.headers[HTTPField.Name("x-image-meta-checksum")!] == md5(Origin.data))
            #expect(g.store.objectCount == 1, "the data was copied into the default store")
        }
    }

    @Test func failedCopyKillsTheImageAndKeepsNothing() async throws {
        try await withGlimpse { (c, g, base) async throws in
            for extra in [
                ["x-glance-api-copy-from": base + "/missing"],
                ["x-glance-api-copy-from": base + "/data", "x-image-meta-checksum": md5([1])],
                ["x-glance-api-copy-from": base + "/data", "x-image-meta-size": "1000"],
            ] {
                let r = try await c.send(.post, "/v1/images", headers: Self.meta.merging(extra) { $1 })
                #expect(r.status == .created)
                let id = try #require(r.json["image"]?.objectValue?["id"]?.stringValue)
                #expect(try await waitForStatus(c, id) == "killed", "\(extra)")
            }
            #expect(g.store.objectCount == 0)
            let bad = try await c.send(.post, "/v1/images", headers: Self.meta.merging(["x-glance-api-copy-from": "ftp://x/y"]) { $1 })
            #expect(bad.status == .badRequest)
        }
    }
}
