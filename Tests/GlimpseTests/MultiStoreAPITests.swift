import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Multi-store through the API with in-memory stores: `X-Image-Meta-Store`, `stores`,
/// discovery, deleting one copy, `?prefer=` and falling back when a store fails mid-download.
@Suite struct MultiStoreAPITests {
    /// A store that serves `goodBytes` bytes of any object and then fails as a server that went away.
    final class FailingStore: BlobStore, @unchecked Sendable {
        let inner: InMemoryBlobStore
        let goodBytes: Int
        init(id: String, goodBytes: Int) {
            inner = InMemoryBlobStore(id: id)
            self.goodBytes = goodBytes
        }
        var id: String { inner.id }
        var capabilities: BlobStoreCapabilities { inner.capabilities }
        func handles(location: String) -> Bool { inner.handles(location: location) }
        func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
            try await inner.makeWriter(imageID: imageID, expectedSize: expectedSize)
        }
        func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
            var sent = 0
            try await inner.read(location: location, range: range) { chunk in
                var chunk = chunk
                let n = min(chunk.readableBytes, goodBytes - sent)
                if n > 0 { try await sink(chunk.readSlice(length: n)!) }
                sent += n
                if sent >= goodBytes { throw GlimpseError(.unavailable, "The image store is unavailable.") }
            }
        }
        func size(location: String) async throws -> Int64 { try await inner.size(location: location) }
        func delete(location: String) async throws { try await inner.delete(location: location) }
    }

    static func make(stores: [any BlobStore], weights: [String: Int] = [:]) async throws -> TestGlimpse {
        try await TestGlimpse.make(extraStores: stores) { c in
            c.multiStore = true
            c.enabledImportMethods = ["copy-image"]
            c.storeDetails = [StoreDetail(id: "memory", type: "file", description: "Default memory", weight: weights["memory"] ?? 0)]
                + stores.map { StoreDetail(id: $0.id, type: "file", weight: weights[$0.id] ?? 0) }
        }
    }

    /// Puts a second copy of the image's data in `store`, as copy-image would.
    static func addCopy(_ glimpse: TestGlimpse, _ id: String, to store: any BlobStore, _ data: [UInt8]) async throws {
        let writer = try await store.makeWriter(imageID: id, expectedSize: Int64(data.count))
        try await writer.write(ByteBuffer(bytes: data))
        let location = try await writer.commit()
        var image = try #require(try await glimpse.catalog.image(id: id))
        image.locations.append(.stored(location, in: store.id))
        _ = try await glimpse.catalog.updateImage(image, expecting: .active)
    }

    @Test func uploadToANamedStoreAndDiscovery() async throws {
        let b = InMemoryBlobStore(id: "b")
        let glimpse = try await Self.make(stores: [b])
        try await glimpse.test { client in
            let id = try await client.create()
            let bad = try await client.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: [1]),
                                            contentType: "application/octet-stream", headers: ["X-Image-Meta-Store": "nope"])
            #expect(bad.status == .badRequest)
            #expect(try await client.send(.get, "/v2/images/\(id)").json["status"]?.stringValue == "queued")
            let ok = try await client.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: bytes(5000)),
                                           contentType: "application/octet-stream", headers: ["X-Image-Meta-Store": "b"])
            #expect(ok.status == .noContent)
            #expect(b.objectCount == 1 && glimpse.store.objectCount == 0)
            #expect(try await client.send(.get, "/v2/images/\(id)").json["stores"]?.stringValue == "b")
            let other = try await client.create()
            try await client.upload(other, bytes(10))
            #expect(try await client.send(.get, "/v2/images/\(other)").json["stores"]?.stringValue == "memory")

            let info = try await client.send(.get, "/v2/info/stores", as: Who.alice)
            #expect(info.status == .ok)
            let stores = info.json["stores"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(stores.map { $0["id"]?.stringValue } == ["memory", "b"])
            #expect(stores[0]["default"]?.stringValue == "true" && stores[0]["description"]?.stringValue == "Default memory")
            #expect(stores[1]["default"] == nil && stores[1]["weight"] == nil)
            #expect(try await client.send(.get, "/v2/info/stores/detail", as: Who.alice).status == .forbidden)
            let detail = try await client.send(.get, "/v2/info/stores/detail")
            #expect(detail.json["stores"]?.arrayValue?.first?.objectValue?["type"]?.stringValue == "file")
            #expect(detail.json["stores"]?.arrayValue?.first?.objectValue?["weight"] == .int(0))
        }
    }

    @Test func singleStoreHasNoDiscoveryAndRefusesPrefer() async throws {
        let glimpse = try await TestGlimpse.make()
        try await glimpse.test { client in
            #expect(try await client.send(.get, "/v2/info/stores").status == .notFound)
            let id = try await client.create()
            try await client.upload(id, bytes(10))
            #expect(try await client.send(.get, "/v2/images/\(id)").json["stores"] == nil)
            #expect(try await client.send(.get, "/v2/images/\(id)/file?prefer=memory").status == .badRequest)
            #expect(try await client.send(.delete, "/v2/stores/memory/\(id)").status == .notFound)
        }
    }

    @Test func deleteOneCopyKeepsTheOther() async throws {
        let b = InMemoryBlobStore(id: "b")
        let glimpse = try await Self.make(stores: [b])
        try await glimpse.test { client in
            let data = bytes(70_000)
            let id = try await client.create()
            try await client.upload(id, data)
            // The only copy cannot be removed this way.
            #expect(try await client.send(.delete, "/v2/stores/memory/\(id)").status == .forbidden)
            try await Self.addCopy(glimpse, id, to: b, data)
            #expect(try await client.send(.get, "/v2/images/\(id)").json["stores"]?.stringValue == "memory,b")
            #expect(try await client.send(.delete, "/v2/stores/nope/\(id)").status == .conflict)
            #expect(try await client.send(.delete, "/v2/stores/b/\(id)", as: Who.alice).status == .notFound)
            #expect(try await client.send(.delete, "/v2/stores/memory/\(id)").status == .noContent)
            #expect(glimpse.store.objectCount == 0, "the removed copy's data is deleted")
            #expect(try await client.send(.get, "/v2/images/\(id)").json["stores"]?.stringValue == "b")
            #expect(try await client.send(.delete, "/v2/stores/memory/\(id)").status == .forbidden)
            let download = try await client.send(.get, "/v2/images/\(id)/file")
            #expect(Array(download.body.readableBytesView) == data)
        }
    }

    /// The heavier store fails part-way; the download continues from the other copy at the
    /// first byte not yet sent, so the client gets exactly the image (ranges too).
    @Test func downloadFallsBackMidStreamToAnotherCopy() async throws {
        let flaky = FailingStore(id: "flaky", goodBytes: 100_000)
        let glimpse = try await Self.make(stores: [flaky], weights: ["flaky": 100])
        try await glimpse.test { client in
            let data = bytes(300_000)
            let id = try await client.create()
            try await client.upload(id, data)
            try await Self.addCopy(glimpse, id, to: flaky, data)
            let whole = try await client.send(.get, "/v2/images/\(id)/file")
            #expect(whole.status == .ok)
            #expect(Array(whole.body.readableBytesView) == data)
            let part = try await client.send(.get, "/v2/images/\(id)/file", headers: ["Range": "bytes=50000-249999"])
            #expect(part.status == .partialContent)
            #expect(Array(part.body.readableBytesView) == Array(data[50_000..<250_000]))
            #expect(try await client.send(.get, "/v2/images/\(id)/file?prefer=nope").status == .badRequest)
            let preferred = try await client.send(.get, "/v2/images/\(id)/file?prefer=memory")
            #expect(Array(preferred.body.readableBytesView) == data)
        }
    }

    /// With no copy left to fall back to, the body ends short: Content-Length tells clients.
    @Test func downloadWithNoFallbackEndsShort() async throws {
        let flaky = FailingStore(id: "flaky", goodBytes: 100_000)
        let glimpse = try await Self.make(stores: [flaky])
        try await glimpse.test { client in
            let id = try await client.create()
            let r = try await client.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: bytes(300_000)),
                                          contentType: "application/octet-stream", headers: ["X-Image-Meta-Store": "flaky"])
            #expect(r.status == .noContent)
            let download = try? await client.send(.get, "/v2/images/\(id)/file")
            if let download {
                #expect(download.body.readableBytes < 300_000, "a failed store must not look like a whole image")
            }
        }
    }

    @Test func copyImageAddsAStoreInTheBackground() async throws {
        let b = InMemoryBlobStore(id: "b")
        let glimpse = try await Self.make(stores: [b])
        try await glimpse.test { client in
            let data = bytes(123_456)
            let id = try await client.create()
            try await client.upload(id, data)
            let info = try await client.send(.get, "/v2/info/import")
            #expect(info.json["import-methods"]?.objectValue?["value"] == .array([.string("copy-image")]))
            let copy = #"{"method": {"name": "copy-image"}, "stores": ["b"]}"#
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: copy, as: Who.alice).status == .notFound)
            #expect(try await client.send(.post, "/v2/images/\(id)/import",
                                          json: #"{"method": {"name": "copy-image"}, "stores": ["tape"]}"#).status == .conflict)
            #expect(try await client.send(.post, "/v2/images/\(id)/import",
                                          json: #"{"method": {"name": "web-download"}}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: copy).status == .accepted)
            var shown = JSONObject()
            for _ in 0..<200 {
                shown = try await client.send(.get, "/v2/images/\(id)").json
                if shown["os_glance_import_task"] == nil { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(shown["stores"]?.stringValue == "memory,b")
            #expect(shown["os_glance_importing_to_stores"]?.stringValue == "")
            #expect(shown["os_glance_failed_import"]?.stringValue == "")
            #expect(b.objectCount == 1)
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: copy).status == .badRequest,
                    "already present")
            // The copy is a real second copy: removing the first leaves the image whole.
            #expect(try await client.send(.delete, "/v2/stores/memory/\(id)").status == .noContent)
            #expect(Array(try await client.send(.get, "/v2/images/\(id)/file").body.readableBytesView) == data)
            let queued = try await client.create()
            #expect(try await client.send(.post, "/v2/images/\(queued)/import", json: copy).status == .conflict)
        }
    }
}
