import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A clock that moves only when told to.
final class ManualClock: Sendable {
    let time = NIOLockedValueBox<Date>(Date(timeIntervalSince1970: 1_700_000_000))
    func now() -> Date { time.withLockedValue { $0 } }
    func advance(_ seconds: TimeInterval) { time.withLockedValue { $0 += seconds } }
}

/// An in-memory store whose deletes fail while `down` is set, as an object store in an outage.
final class OutageStore: BlobStore {
    let inner = InMemoryBlobStore()
    let down = NIOLockedValueBox(false)
    let deleteAttempts = NIOLockedValueBox(0)
    var id: String { inner.id }
    var capabilities: BlobStoreCapabilities { inner.capabilities }
    var objectCount: Int { inner.objectCount }

    func handles(location: String) -> Bool { inner.handles(location: location) }
    func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        try await inner.makeWriter(imageID: imageID, expectedSize: expectedSize)
    }
    func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        try await inner.read(location: location, range: range, into: sink)
    }
    func size(location: String) async throws -> Int64 { try await inner.size(location: location) }
    func delete(location: String) async throws {
        deleteAttempts.withLockedValue { $0 += 1 }
        if down.withLockedValue({ $0 }) { throw GlimpseError(.unavailable, "The image store is unavailable.") }
        try await inner.delete(location: location)
    }
}

/// Delayed delete and the scrubber on the real service and SQLite catalog, with an in-memory store.
@Suite struct ScrubberTests {
    static let admin = Principal(projectID: "admin", userID: "admin", roles: ["admin", "member", "reader"])

    struct Fixture {
        let executor: SQLiteExecutor
        let catalog: SQLCatalog
        let store: OutageStore
        let service: ImageService
        let clock: ManualClock

        func scrubber(scrubTime: TimeInterval = 0, poolSize: Int = 1, pageSize: Int = 100) -> Scrubber {
            var c = ScrubberConfiguration()
            c.scrubTime = scrubTime
            c.poolSize = poolSize
            return Scrubber(service: service, configuration: c, pageSize: pageSize)
        }

        /// An active image holding `data`, with a property and a tag.
        func activeImage(_ data: [UInt8] = Array("scrub me".utf8)) async throws -> String {
            let body = try JSONValue.parse(Array(#"{"name": "s", "disk_format": "raw", "container_format": "bare", "tags": ["t1"], "os_distro": "debian"}"#.utf8))
            let image = try await service.create(body, principal: admin)
            let chunks = AsyncStream<ByteBuffer> { c in
                c.yield(ByteBuffer(bytes: data))
                c.finish()
            }
            _ = try await service.upload(image.id, body: chunks, declaredSize: Int64(data.count), principal: admin)
            return image.id
        }

        func row(_ table: String, _ id: String, column: String = "id") async throws -> [SQLRow] {
            try await executor.query("SELECT * FROM \(table) WHERE \(column) = ? ORDER BY id", [.text(id)])
        }

        func download(_ id: String) async throws -> [UInt8] {
            let download = try #require(try await service.prepareDownload(id, principal: admin))
            var bytes: [UInt8] = []
            try await download.read(range: nil) { bytes += Array($0.readableBytesView) }
            return bytes
        }
    }

    static func withFixture(delayedDelete: Bool = true, _ body: (Fixture) async throws -> Void) async throws {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let clock = ManualClock()
        let catalog = SQLCatalog(executor: executor, clock: clock.now)
        let store = OutageStore()
        var configuration = ImageServiceConfiguration()
        configuration.delayedDelete = delayedDelete
        let service = ImageService(catalog: catalog, defaultStore: store, configuration: configuration, clock: clock.now)
        do {
            try await catalog.migrate()
            try await body(Fixture(executor: executor, catalog: catalog, store: store, service: service, clock: clock))
            try await executor.close()
        } catch {
            try? await executor.close()
            throw error
        }
    }

    @Test func delayedDelete_keepsDataUntilScrubTime() async throws {
        try await Self.withFixture { f in
            let id = try await f.activeImage()
            #expect(try await f.service.delete(id, principal: Self.admin) == .pendingDelete)
            await #expect(throws: GlimpseError.self) { try await f.service.show(id, principal: Self.admin) }
            #expect(f.store.objectCount == 1)
            // Glance's rows: the image and its location pending_delete, both deleted = 1.
            let image = try #require(try await f.row("images", id).first)
            #expect(image["status"].string == "pending_delete" && image["deleted"].bool && image["deleted_at"].date == f.clock.now())
            let locations = try await f.row("image_locations", id, column: "image_id")
            #expect(locations.count == 1 && locations[0]["status"].string == "pending_delete" && locations[0]["deleted"].bool)

            let scrubber = f.scrubber(scrubTime: 100)
            f.clock.advance(99)
            #expect(try await scrubber.scrubOnce() == ScrubReport())
            #expect(f.store.objectCount == 1)
            #expect(f.store.deleteAttempts.withLockedValue { $0 } == 0)

            f.clock.advance(1)
            let report = try await scrubber.scrubOnce()
            #expect(report.imagesScrubbed == 1 && report.locationsDeleted == 1 && report.failedImages.isEmpty)
            #expect(f.store.objectCount == 0)
            #expect(try await f.row("images", id).first?["status"].string == "deleted")
            let after = try await f.row("image_locations", id, column: "image_id")
            #expect(after[0]["status"].string == "deleted" && after[0]["deleted"].bool)
            // Nothing left to do; a restore now is refused.
            #expect(try await scrubber.scrubOnce() == ScrubReport())
            await #expect(throws: GlimpseError.self) { try await scrubber.restore(imageID: id) }
        }
    }

    @Test func restore_bringsTheImageBackWithItsData() async throws {
        try await Self.withFixture { f in
            let data = (0..<5000).map { UInt8($0 % 251) }
            let id = try await f.activeImage(data)
            let before = try await f.service.show(id, principal: Self.admin)
            try await f.service.delete(id, principal: Self.admin)
            let scrubber = f.scrubber(scrubTime: 3600)
            try await scrubber.restore(imageID: id)

            let restored = try await f.service.show(id, principal: Self.admin)
            #expect(restored.status == .active && restored.checksum == before.checksum)
            #expect(restored.tags == ["t1"] && restored.properties["os_distro"] == "debian")
            #expect(restored.locations.map(\.status) == ["active"])
            #expect(try await f.download(id) == data)
            let image = try #require(try await f.row("images", id).first)
            #expect(!image["deleted"].bool && image["deleted_at"] == .null)

            // Only pending_delete images can be restored.
            do {
                try await scrubber.restore(imageID: id)
                Issue.record("restoring an active image succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict && e.message.contains("active"))
            }
            do {
                try await scrubber.restore(imageID: UUID().uuidString.lowercased())
                Issue.record("restoring an unknown image succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .notFound)
            }
            // Past scrub_time the restored image is left alone.
            f.clock.advance(7200)
            #expect(try await scrubber.scrubOnce() == ScrubReport())
            #expect(f.store.objectCount == 1)
        }
    }

    @Test func failingStore_keepsThePendingDeleteAndALaterPassSucceeds() async throws {
        try await Self.withFixture { f in
            let id = try await f.activeImage()
            try await f.service.delete(id, principal: Self.admin)
            let scrubber = f.scrubber()
            f.store.down.withLockedValue { $0 = true }
            let failed = try await scrubber.scrubOnce()
            #expect(failed.failedImages == [id] && failed.imagesScrubbed == 0 && failed.locationsDeleted == 0)
            #expect(f.store.objectCount == 1)
            #expect(try await f.row("images", id).first?["status"].string == "pending_delete")
            #expect(try await f.row("image_locations", id, column: "image_id").first?["status"].string == "pending_delete")

            f.store.down.withLockedValue { $0 = false }
            let retried = try await scrubber.scrubOnce()
            #expect(retried.imagesScrubbed == 1 && retried.failedImages.isEmpty)
            #expect(f.store.objectCount == 0)
            #expect(try await f.row("images", id).first?["status"].string == "deleted")
        }
    }

    @Test func imageWithoutData_isDeletedAtOnce() async throws {
        try await Self.withFixture { f in
            let body = try JSONValue.parse(Array(#"{"name": "empty"}"#.utf8))
            let id = try await f.service.create(body, principal: Self.admin).id
            #expect(try await f.service.delete(id, principal: Self.admin) == .deleted)
            let image = try #require(try await f.row("images", id).first)
            #expect(image["status"].string == "deleted" && image["deleted"].bool)
            #expect(try await f.scrubber().scrubOnce() == ScrubReport())
        }
    }

    @Test func withoutDelayedDelete_dataGoesAtOnce() async throws {
        try await Self.withFixture(delayedDelete: false) { f in
            let id = try await f.activeImage()
            #expect(try await f.service.delete(id, principal: Self.admin) == .deleted)
            #expect(f.store.objectCount == 0)
        }
    }

    @Test func manyImages_pagedAndInParallel() async throws {
        try await Self.withFixture { f in
            var ids: [String] = []
            for _ in 0..<7 {
                let id = try await f.activeImage()
                try await f.service.delete(id, principal: Self.admin)
                ids.append(id)
            }
            let keep = try await f.activeImage()
            #expect(f.store.objectCount == 8)
            let report = try await f.scrubber(poolSize: 3, pageSize: 2).scrubOnce()
            #expect(report.imagesScrubbed == 7 && report.locationsDeleted == 7)
            #expect(f.store.objectCount == 1)
            #expect(try await f.service.show(keep, principal: Self.admin).status == .active)
        }
    }

    /// Rows as Glance's own API leaves them (locations marked before the image, at another time)
    /// are scrubbed; and an image whose locations were all marked before a crash is finished.
    @Test func glanceMarkedRows_areScrubbed() async throws {
        try await Self.withFixture { f in
            let id = try await f.activeImage()
            let image = try await f.service.show(id, principal: Self.admin)
            let url = try #require(image.locations.first?.url)
            let t1 = SQLTimestamp.format(f.clock.now().addingTimeInterval(-10))
            let t2 = SQLTimestamp.format(f.clock.now().addingTimeInterval(-9))
            _ = try await f.executor.query(
                "UPDATE image_locations SET status = 'pending_delete', deleted = 1, deleted_at = ?, updated_at = ? WHERE image_id = ?",
                [.text(t1), .text(t1), .text(id)])
            _ = try await f.executor.query(
                "UPDATE images SET status = 'pending_delete', deleted = 1, deleted_at = ?, updated_at = ? WHERE id = ?",
                [.text(t2), .text(t2), .text(id)])
            let orphan = try await f.activeImage()
            try await f.service.delete(orphan, principal: Self.admin)
            _ = try await f.executor.query("UPDATE image_locations SET status = 'deleted' WHERE image_id = ?", [.text(orphan)])

            let report = try await f.scrubber().scrubOnce()
            #expect(report.imagesScrubbed == 2 && report.locationsDeleted == 1)
            #expect(!f.store.inner.objectLocations.contains(url))
            #expect(try await f.row("images", id).first?["status"].string == "deleted")
            #expect(try await f.row("images", orphan).first?["status"].string == "deleted")
        }
    }

    @Test func v1AndV2Delete_bothHonourDelayedDelete() async throws {
        let g = try await TestGlimpse.make(configure: { $0.delayedDelete = true })
        try await g.test { client in
            for path in ["/v2/images/", "/v1/images/"] {
                let id = try await client.create()
                #expect(try await client.upload(id, Array("abc".utf8)).status == .noContent)
                let r = try await client.send(.delete, path + id)
                #expect(r.status == .noContent || r.status == .ok, "\(path)")
                let rows = try await g.executor.query("SELECT status, deleted FROM images WHERE id = ?", [.text(id)])
                #expect(rows.first?["status"].string == "pending_delete" && rows.first?["deleted"].bool == true, "\(path)")
                #expect(try await client.send(.get, "/v2/images/" + id).status == .notFound)
            }
            #expect(g.store.objectCount == 2)
        }
    }
}
