import Foundation
import GlimpseCatalog
import GlimpseDomain
import Testing

/// The `ImageCatalog` contract. Each test runs against every catalog backend available here
/// (SQLite in memory and on disk, and PostgreSQL).
@Suite struct CatalogConformanceTests {
    /// Runs `body` once per backend (`CatalogBackends`), each on a fresh, migrated catalog.
    static func forEachBackend(_ body: (String, any ImageCatalog) async throws -> Void) async throws {
        try await CatalogBackends.each { name, catalog in try await body(name, catalog) }
    }

    func newImage(_ id: String = UUID().uuidString.lowercased(), owner: String = "p1") -> Image {
        var i = Image(id: id, name: "n", owner: owner, containerFormat: "bare", diskFormat: "raw", createdAt: Date())
        i.properties = ["a": "1"]
        i.tags = ["t"]
        return i
    }

    @Test func createReadAndDuplicate() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            let read = try #require(try await catalog.image(id: image.id), "\(name)")
            #expect(read.name == "n" && read.properties == ["a": "1"] && read.tags == ["t"] && read.status == .queued, "\(name)")
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.createImage(image) }
        }
    }

    @Test func compareAndSwapOnStatus() async throws {
        try await Self.forEachBackend { name, catalog in
            var image = newImage()
            try await catalog.createImage(image)
            image.status = .saving
            try await catalog.updateImage(image, expecting: .queued)
            // A second writer expecting queued loses.
            do {
                try await catalog.updateImage(image, expecting: .queued)
                Issue.record("\(name): stale CAS succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict, "\(name)")
            }
            #expect(try await catalog.image(id: image.id)?.status == .saving, "\(name)")
        }
    }

    @Test func racingWritersGetOneWinner() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var saving = image
                        saving.status = .saving
                        do {
                            try await catalog.updateImage(saving, expecting: .queued)
                            return true
                        } catch let e as GlimpseError where e.code == .conflict {
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1, "\(name)")
        }
    }

    @Test func concurrentCreatesOfOneIDGetOneWinner() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            try await catalog.createImage(image)
                            return true
                        } catch let e as GlimpseError where e.code == .conflict {
                            #expect(e.message.contains("already exists"), "\(name)")
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1, "\(name)")
        }
    }

    @Test func unchangedSinceRefusesAStaleReadModifyWrite() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            let read = try #require(try await catalog.image(id: image.id))
            var first = read
            first.tags.append("first")
            try await catalog.updateImage(first, expecting: read.status, unchangedSince: read.updatedAt)
            var stale = read
            stale.tags.append("second")
            do {
                try await catalog.updateImage(stale, expecting: read.status, unchangedSince: read.updatedAt)
                Issue.record("\(name): a write based on a stale read succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict && e.isImageChanged, "\(name)")
            }
            #expect(try await catalog.image(id: image.id)?.tags.sorted() == ["first", "t"], "\(name)")
        }
    }

    /// Concurrent read-modify-writers that retry on `ImageChanged` lose nothing.
    @Test func concurrentTagWritersLoseNothing() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<10 {
                    group.addTask {
                        while true {
                            let current = try #require(try await catalog.image(id: image.id))
                            var changed = current
                            changed.tags.append("tag\(i)")
                            do {
                                try await catalog.updateImage(changed, expecting: current.status, unchangedSince: current.updatedAt)
                                return
                            } catch let e as GlimpseError where e.isImageChanged {
                                continue
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let tags = try #require(try await catalog.image(id: image.id)).tags
            #expect(Set(tags) == Set(["t"] + (0..<10).map { "tag\($0)" }), "\(name): \(tags)")
        }
    }

    @Test func memberQuotaHoldsUnderConcurrentAdds() async throws {
        try await Self.forEachBackend { name, catalog in
            var image = newImage()
            image.visibility = .shared
            try await catalog.createImage(image)
            let imageID = image.id
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        do {
                            try await catalog.addMember(ImageMember(imageID: imageID, memberID: "m\(i)", createdAt: Date()), limit: 5)
                            return true
                        } catch let e as GlimpseError where e.code == .payloadTooLarge {
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 5, "\(name)")
            #expect(try await catalog.members(imageID: image.id).count == 5, "\(name)")
        }
    }

    @Test func childrenAreSyncedAndRevived() async throws {
        try await Self.forEachBackend { name, catalog in
            var image = newImage()
            try await catalog.createImage(image)
            image.properties = ["b": "2"]
            image.tags = ["u", "v"]
            image.locations = [ImageLocation(url: "file:///x/\(image.id)", metadataJSON: #"{"store": "fs"}"#)]
            try await catalog.updateImage(image, expecting: nil)
            var read = try #require(try await catalog.image(id: image.id))
            #expect(read.properties == ["b": "2"] && read.tags == ["u", "v"], "\(name)")
            #expect(read.locations.map(\.url) == ["file:///x/\(image.id)"], "\(name)")
            read.properties = ["a": "again", "b": "2"]
            read.locations = []
            try await catalog.updateImage(read, expecting: nil)
            let again = try #require(try await catalog.image(id: image.id))
            #expect(again.properties == ["a": "again", "b": "2"] && again.locations.isEmpty, "\(name)")
        }
    }

    @Test func deletedImagesDisappearButKeepTheirID() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            try await catalog.deleteImage(id: image.id, expecting: .queued)
            #expect(try await catalog.image(id: image.id) == nil, "\(name)")
            let admin = Principal(projectID: "p1", userID: nil, roles: ["admin"])
            #expect(try await catalog.listImages(ImageQuery(), for: admin).isEmpty, "\(name)")
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.createImage(image) }
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.deleteImage(id: image.id, expecting: nil) }
        }
    }

    /// An active image with two locations, a member, a property and a tag.
    func activeImageWithData(_ catalog: any ImageCatalog) async throws -> Image {
        var image = newImage()
        image.status = .active
        image.locations = [.stored("memory://memory/\(image.id)", in: "memory"), .stored("memory://other/\(image.id)", in: "other")]
        try await catalog.createImage(image)
        try await catalog.addMember(ImageMember(imageID: image.id, memberID: "p2", createdAt: Date()))
        return image
    }

    @Test func pendingDelete_isACompareAndSwapThatTheScrubberFinishes() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = try await activeImageWithData(catalog)
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.markImagePendingDelete(id: image.id, expecting: .queued) }
            try await catalog.markImagePendingDelete(id: image.id, expecting: .active)
            #expect(try await catalog.image(id: image.id) == nil, "\(name)")
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.markImagePendingDelete(id: image.id, expecting: nil) }

            // Due only once deleted_at is at or before the cutoff.
            #expect(try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(-60), after: nil, limit: 10).isEmpty, "\(name)")
            var due = try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: nil, limit: 10)
            #expect(due.map(\.imageID) == [image.id], "\(name)")
            #expect(due.first?.locations.map(\.url) == image.locations.map(\.url), "\(name)")

            // Not finished while a location still holds data.
            let locations = try #require(due.first?.locations)
            try await catalog.markLocationDeleted(imageID: image.id, locationID: locations[0].id)
            do {
                try await catalog.finishImageDeletion(id: image.id)
                Issue.record("\(name): finished with data left")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict, "\(name)")
            }
            due = try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: nil, limit: 10)
            #expect(due.first?.locations.map(\.id) == [locations[1].id], "\(name)")
            try await catalog.markLocationDeleted(imageID: image.id, locationID: locations[1].id)
            try await catalog.finishImageDeletion(id: image.id)
            #expect(try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: nil, limit: 10).isEmpty, "\(name)")
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.finishImageDeletion(id: image.id) }
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.restoreImage(id: image.id) }
            do {
                try await catalog.markLocationDeleted(imageID: image.id, locationID: 999_999)
                Issue.record("\(name): unknown location marked")
            } catch let e as GlimpseError {
                #expect(e.code == .notFound, "\(name)")
            }
            do {
                try await catalog.finishImageDeletion(id: UUID().uuidString)
                Issue.record("\(name): unknown image finished")
            } catch let e as GlimpseError {
                #expect(e.code == .notFound, "\(name)")
            }
        }
    }

    @Test func restore_bringsBackTheImageItsDataAndChildren() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = try await activeImageWithData(catalog)
            // A property deleted earlier stays deleted.
            var earlier = image
            earlier.properties["gone"] = "x"
            try await catalog.updateImage(earlier, expecting: .active)
            earlier.properties["gone"] = nil
            try await catalog.updateImage(earlier, expecting: .active)
            try await Task.sleep(nanoseconds: 2_000_000)
            try await catalog.markImagePendingDelete(id: image.id, expecting: .active)
            // Scrubbed halfway: one location is gone for good.
            let due = try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: nil, limit: 10)
            try await catalog.markLocationDeleted(imageID: image.id, locationID: try #require(due.first?.locations.first?.id))

            try await catalog.restoreImage(id: image.id)
            let back = try #require(try await catalog.image(id: image.id), "\(name)")
            #expect(back.status == .active && back.deletedAt == nil, "\(name)")
            #expect(back.properties == ["a": "1"] && back.tags == ["t"], "\(name)")
            #expect(back.locations.map(\.url) == [image.locations[1].url] && back.locations.map(\.status) == ["active"], "\(name)")
            #expect(try await catalog.members(imageID: image.id).map(\.memberID) == ["p2"], "\(name)")

            do {
                try await catalog.restoreImage(id: image.id)
                Issue.record("\(name): restored an active image")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict, "\(name)")
            }
            do {
                try await catalog.restoreImage(id: UUID().uuidString)
                Issue.record("\(name): restored an unknown image")
            } catch let e as GlimpseError {
                #expect(e.code == .notFound, "\(name)")
            }
            // Nothing left to restore once every location is scrubbed.
            try await catalog.markImagePendingDelete(id: image.id, expecting: .active)
            let again = try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: nil, limit: 10)
            for location in again.first?.locations ?? [] {
                try await catalog.markLocationDeleted(imageID: image.id, locationID: location.id)
            }
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.restoreImage(id: image.id) }
        }
    }

    @Test func pendingDeletions_pageByID() async throws {
        try await Self.forEachBackend { name, catalog in
            var ids: [String] = []
            for _ in 0..<5 {
                let image = try await activeImageWithData(catalog)
                try await catalog.markImagePendingDelete(id: image.id, expecting: .active)
                ids.append(image.id)
            }
            let other = try await activeImageWithData(catalog)
            try await catalog.deleteImage(id: other.id, expecting: .active)
            var seen: [String] = []
            var marker: String?
            while true {
                let page = try await catalog.pendingDeletions(deletedBefore: Date().addingTimeInterval(1), after: marker, limit: 2)
                guard let last = page.last else { break }
                #expect(page.count <= 2 && page.allSatisfy { $0.locations.count == 2 }, "\(name)")
                seen += page.map(\.imageID)
                marker = last.imageID
            }
            #expect(seen == ids.sorted(), "\(name)")
        }
    }

    @Test func membersLifecycle() async throws {
        try await Self.forEachBackend { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            let m = ImageMember(imageID: image.id, memberID: "p2", createdAt: Date())
            try await catalog.addMember(m)
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.addMember(m) }
            var accepted = m
            accepted.status = .accepted
            try await catalog.updateMember(accepted)
            #expect(try await catalog.member(imageID: image.id, memberID: "p2")?.status == .accepted, "\(name)")
            try await catalog.removeMember(imageID: image.id, memberID: "p2")
            #expect(try await catalog.members(imageID: image.id).isEmpty, "\(name)")
            // Re-adding after removal works (the unique key includes deleted_at).
            try await catalog.addMember(m)
            #expect(try await catalog.members(imageID: image.id).count == 1, "\(name)")
            await #expect(throws: GlimpseError.self, "\(name)") { try await catalog.removeMember(imageID: image.id, memberID: "nobody") }
        }
    }

    @Test func listAppliesVisibilityInTheQuery() async throws {
        try await Self.forEachBackend { name, catalog in
            var mine = newImage(owner: "p1")
            mine.visibility = .private
            var theirs = newImage(owner: "p2")
            theirs.visibility = .private
            var pub = newImage(owner: "p2")
            pub.visibility = .public
            for i in [mine, theirs, pub] { try await catalog.createImage(i) }
            let p1 = Principal(projectID: "p1", userID: nil, roles: ["member"])
            let seen = Set(try await catalog.listImages(ImageQuery(), for: p1).map(\.id))
            #expect(seen == [mine.id, pub.id], "\(name)")
        }
    }

    /// `visibility = X` is a filter and a write on every backend (in Glance's PostgreSQL schema
    /// the column is an enum type, which a bound text parameter neither matches nor fills).
    @Test func visibilityFilterAndChangeOnEveryBackend() async throws {
        try await Self.forEachBackend { name, catalog in
            var a = newImage(owner: "p1")
            a.visibility = .public
            let b = newImage(owner: "p2")
            for i in [a, b] { try await catalog.createImage(i) }
            let admin = Principal(projectID: "p1", userID: nil, roles: ["admin"])
            var q = ImageQuery()
            q.visibility = .only(.public)
            #expect(try await catalog.listImages(q, for: admin).map(\.id) == [a.id], "\(name)")
            var changed = try #require(try await catalog.image(id: b.id))
            changed.visibility = .community
            try await catalog.updateImage(changed, expecting: nil)
            q.visibility = .only(.community)
            #expect(try await catalog.listImages(q, for: admin).map(\.id) == [b.id], "\(name)")
            #expect(try await catalog.image(id: b.id)?.visibility == .community, "\(name)")
        }
    }

    /// Sorting by a nullable column puts NULL where Glance's database would: first ascending in
    /// SQLite, last ascending in PostgreSQL. Paging with markers follows the same order.
    @Test func nullsSortLikeGlancesDatabase() async throws {
        try await Self.forEachBackend { name, catalog in
            var sized: [Image] = []
            for size in [Int64(5), 0, 7] {
                var i = newImage()
                i.size = size
                sized.append(i)
            }
            let unsized = newImage()
            for i in sized + [unsized] { try await catalog.createImage(i) }
            let admin = Principal(projectID: "p1", userID: nil, roles: ["admin"])
            let bySize = [sized[1].id, sized[0].id, sized[2].id]
            let want = name == "postgres" ? bySize + [unsized.id] : [unsized.id] + bySize
            var q = ImageQuery()
            q.sort = [(.size, .asc)]
            #expect(try await catalog.listImages(q, for: admin).map(\.id) == want, "\(name)")
            q.sort = [(.size, .desc)]
            #expect(try await catalog.listImages(q, for: admin).map(\.id) == want.reversed(), "\(name)")
            q.sort = [(.size, .asc)]
            q.limit = 1
            var paged: [String] = []
            while let next = try await catalog.listImages(q, for: admin).first, paged.count < 10 {
                paged.append(next.id)
                q.marker = next.id
            }
            #expect(paged == want, "\(name)")
        }
    }

    /// Write leases: started with the image's move to `saving`, renewed only by their holder,
    /// taken over once stale by exactly one node, and ended only by whoever holds them.
    @Test func writeLeasesAreHeldTakenOverAndEndedByOneHolder() async throws {
        try await CatalogBackends.each { name, catalog in
            let image = newImage()
            try await catalog.createImage(image)
            let t0 = Date()
            let lease = WriteLease(imageID: image.id, storeID: "file", imageStatus: .saving, holder: "node-a", heartbeatAt: t0)
            try await catalog.modifyImage(id: image.id, expecting: .queued, lease: .start(lease)) { $0.status = .saving }
            // A CAS that fails starts nothing.
            let other = WriteLease(imageID: image.id, storeID: "file", imageStatus: .saving, holder: "node-a", heartbeatAt: t0)
            await #expect(throws: GlimpseError.self, "\(name)") {
                try await catalog.modifyImage(id: image.id, expecting: .queued, lease: .start(other)) { $0.status = .saving }
            }
            #expect(try await catalog.staleLeases(before: t0.addingTimeInterval(1), limit: 10).map(\.id) == [lease.id], "\(name)")

            // Renewal: the holder keeps it and records leftovers; a non-holder is told it lost it.
            var renewed = lease
            renewed.leftovers = "segments"
            #expect(try await catalog.renewLeases([renewed], at: t0.addingTimeInterval(5)).isEmpty, "\(name)")
            var impostor = lease
            impostor.holder = "node-x"
            #expect(try await catalog.renewLeases([impostor], at: t0.addingTimeInterval(5)) == [lease.id], "\(name)")
            #expect(try await catalog.staleLeases(before: t0.addingTimeInterval(1), limit: 10).isEmpty, "\(name): renewed")
            let stale = try await catalog.staleLeases(before: t0.addingTimeInterval(10), limit: 10)
            #expect(stale.count == 1 && stale.first?.leftovers == "segments" && stale.first?.imageStatus == .saving, "\(name)")

            // Two nodes race to take it over: one wins.
            let cutoff = t0.addingTimeInterval(10)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for node in ["node-b", "node-c", "node-d"] {
                    group.addTask { try await catalog.takeLease(stale[0], staleBefore: cutoff, holder: node, at: cutoff) != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1, "\(name): \(wins) winners")
            let taken = try #require(try await catalog.staleLeases(before: cutoff.addingTimeInterval(1), limit: 10).first, "\(name)")
            #expect(taken.holder != "node-a", "\(name)")

            // The old holder can no longer record its write's outcome: nothing changes.
            do {
                try await catalog.modifyImage(id: image.id, expecting: .saving, lease: .end(lease.reference)) { $0.status = .active }
                Issue.record("\(name): a lost lease ended a write")
            } catch let e as GlimpseError {
                #expect(e.code == .conflict && e.isLeaseLost, "\(name)")
            }
            #expect(try await catalog.image(id: image.id)?.status == .saving, "\(name)")
            try await catalog.endLease(lease.reference)  // not the holder: nothing happens
            #expect(try await catalog.staleLeases(before: cutoff.addingTimeInterval(1), limit: 10).count == 1, "\(name)")

            // The new holder ends it with the image's move back to queued.
            try await catalog.modifyImage(id: image.id, expecting: .saving, lease: .end(taken.reference)) { $0.status = .queued }
            #expect(try await catalog.image(id: image.id)?.status == .queued, "\(name)")
            #expect(try await catalog.staleLeases(before: cutoff.addingTimeInterval(100), limit: 10).isEmpty, "\(name)")
            try await catalog.endLease(taken.reference)  // already gone: fine
        }
    }

    @Test func timestampsRoundTripInSQLAlchemyFormat() {
        let d = Date(timeIntervalSince1970: 1_764_012_589.121211)
        let text = SQLTimestamp.format(d)
        #expect(text == "2025-11-24 19:29:49.121211")
        #expect(abs((SQLTimestamp.parse(text)?.timeIntervalSince1970 ?? 0) - d.timeIntervalSince1970) < 0.000002)
        #expect(SQLTimestamp.parse("2026-11-24 19:29:49")?.timeIntervalSince1970 == 1_795_548_589)
        #expect(SQLTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00.000000")
        #expect(SQLTimestamp.parse("garbage") == nil)
    }
}

/// Not a timing test: the database's own plan for the default list page (newest first) must
/// walk an index rather than sort every live image for each page.
@Suite struct ListQueryPlanTests {
    @Test func theDefaultListOrderNeedsNoSort() async throws {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        for admin in [true, false] {
            let principal = Principal(projectID: "p1", userID: "u1", roles: admin ? ["admin"] : ["member"])
            let (sql, binds) = try await catalog.listStatement(ImageQuery(), for: principal)
            let plan = try await executor.query("EXPLAIN QUERY PLAN " + sql, binds).compactMap { $0["detail"].string }
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "admin=\(admin): \(plan)")
            #expect(plan.contains { $0.contains("glimpse_images_live_created_idx") }, "admin=\(admin): \(plan)")
        }
        try await executor.close()
    }

    /// A page sorted on one key (either direction, with a filter no index covers) walks that
    /// key's index and stops at its limit: Glance ends such a sort with `created_at` and `id`
    /// in the same direction, which is exactly the index's order.
    @Test func aSortOnOneKeyNeedsNoSort() async throws {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        let keys: [(ImageQuery.SortKey, String)] = [
            (.name, "name"), (.size, "size"), (.updatedAt, "updated_at"), (.status, "status"),
            (.diskFormat, "disk_format"), (.containerFormat, "container_format"),
        ]
        for (key, column) in keys {
            for direction in [ImageQuery.SortDirection.asc, .desc] {
                for admin in [true, false] {
                    var query = ImageQuery()
                    query.sort = [(key, direction)]
                    query.tieBreakDirection = direction
                    query.columns["min_ram"] = ["512"]
                    let principal = Principal(projectID: "p1", userID: "u1", roles: admin ? ["admin"] : ["member"])
                    let (sql, binds) = try await catalog.listStatement(query, for: principal)
                    let plan = try await executor.query("EXPLAIN QUERY PLAN " + sql, binds).compactMap { $0["detail"].string }
                    let label = "\(column) \(direction) admin=\(admin): \(plan)"
                    #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(label)")
                    #expect(plan.contains { $0.contains("glimpse_images_live_\(column)_idx") }, "\(label)")
                }
            }
        }
        try await executor.close()
    }

    /// A page's properties, tags and locations are looked up by image, whatever the planner
    /// knows of the tables (a fresh catalog has no statistics).
    @Test func childrenAreLookedUpByImage() async throws {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        let ids = (0..<25).map { "00000000-0000-0000-0000-0000000000\(10 + $0)" }
        let (sql, binds) = SQLCatalog.childrenStatement(ids: ids, withLocations: true)
        let plan = try await executor.query("EXPLAIN QUERY PLAN " + sql, binds).compactMap { $0["detail"].string }
        for table in ["image_properties", "image_tags", "image_locations"] {
            #expect(plan.contains { $0.contains("SEARCH \(table) USING INDEX") && $0.contains("(image_id=?)") }, "\(table): \(plan)")
        }
        #expect(!plan.contains { $0.contains("_deleted") }, "\(plan)")
        try await executor.close()
    }
}
