import Foundation
import GlimpseDomain
import GlimpseCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Every list filter and sort of `GET /v2/images` (reference §1.5).
@Suite struct ImageListTests {
    struct Fixture {
        var ids: [String: String] = [:]  // name → id
    }

    /// Six images with distinct creation times (one second apart) and varied fields.
    func seed(_ c: Client) async throws -> Fixture {
        var f = Fixture()
        let specs: [(String, String, [String: String])] = [
            ("alpha", #"{"name": "alpha", "disk_format": "raw", "container_format": "bare", "visibility": "public", "tags": ["x", "y"], "os_distro": "ubuntu", "min_ram": 512}"#, Who.admin),
            ("beta", #"{"name": "beta", "disk_format": "qcow2", "container_format": "bare", "visibility": "private", "tags": ["x"], "protected": true}"#, Who.alice),
            ("gamma", #"{"name": "gamma", "disk_format": "qcow2", "container_format": "ovf", "visibility": "community", "os_distro": "fedora"}"#, Who.alice),
            ("delta", #"{"name": "delta", "disk_format": "iso", "container_format": "bare", "os_hidden": true}"#, Who.alice),
            ("epsilon", #"{"name": "epsilon", "disk_format": "raw", "container_format": "bare"}"#, Who.bob),
            ("zeta", #"{"disk_format": "raw", "container_format": "bare", "visibility": "community"}"#, Who.bob),
        ].map { ($0.0, $0.1, $0.2) }
        for (name, json, who) in specs {
            f.ids[name] = try await c.create(json, as: who)
        }
        // Data of different sizes: alpha 10, beta 1000, epsilon 100.
        _ = try await c.upload(f.ids["alpha"]!, bytes(10))
        _ = try await c.upload(f.ids["beta"]!, qcow2Header(length: 1000))
        _ = try await c.upload(f.ids["epsilon"]!, bytes(100))
        return f
    }

    /// A qcow2 v3 header padded to `length` bytes (a 1 GiB disk), enough for the upload's
    /// format inspector to take beta's data for the qcow2 it claims to be.
    func qcow2Header(length: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: length)
        func put(_ v: UInt64, at o: Int, width: Int) { for i in 0..<width { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * (width - 1 - i))) } }
        b.replaceSubrange(0..<4, with: [0x51, 0x46, 0x49, 0xFB])
        put(3, at: 4, width: 4)          // version
        put(16, at: 20, width: 4)        // cluster_bits
        put(1 << 30, at: 24, width: 8)   // size
        put(104, at: 100, width: 4)      // header_length
        return b
    }

    func names(_ c: Client, _ f: Fixture, _ query: String, as who: [String: String] = Who.admin) async throws -> [String] {
        let byID = Dictionary(uniqueKeysWithValues: f.ids.map { ($0.value, $0.key) })
        return try await c.ids(query, as: who).map { byID[$0] ?? $0 }
    }

    func withFixture(_ body: @Sendable (Client, Fixture) async throws -> Void) async throws {
        let clock = SteppingClock()
        let g = try await TestGlimpse.make(clock: { clock.now() })
        try await g.test { (c) async throws in try await body(c, try await seed(c)) }
    }

    @Test func defaultOrderIsNewestFirstAndHidesHidden() async throws {
        try await withFixture { (c, f) async throws in
            #expect(try await names(c, f, "") == ["zeta", "epsilon", "gamma", "beta", "alpha"])
            #expect(try await names(c, f, "os_hidden=true") == ["delta"])
        }
    }

    @Test func osHiddenBadValueIs400() async throws {
        try await withFixture { (c, _) async throws in
            #expect(try await c.send(.get, "/v2/images?os_hidden=maybe").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?protected=sure").status == .badRequest)
        }
    }

    @Test func equalityAndInFilters() async throws {
        try await withFixture { (c, f) async throws in
            #expect(try await names(c, f, "name=beta") == ["beta"])
            #expect(try await names(c, f, "name=in:alpha,gamma") == ["gamma", "alpha"])
            #expect(try await names(c, f, "name=in:%22alpha%22,%22nope,x%22") == ["alpha"])
            #expect(try await names(c, f, "id=\(f.ids["gamma"]!)") == ["gamma"])
            #expect(try await names(c, f, "id=in:\(f.ids["gamma"]!),\(f.ids["beta"]!)") == ["gamma", "beta"])
            #expect(try await names(c, f, "status=active") == ["epsilon", "beta", "alpha"])
            #expect(try await names(c, f, "status=in:queued,saving") == ["zeta", "gamma"])
            #expect(try await names(c, f, "disk_format=qcow2") == ["gamma", "beta"])
            #expect(try await names(c, f, "container_format=ovf") == ["gamma"])
            #expect(try await names(c, f, "disk_format=in:iso,qcow2&os_hidden=true") == ["delta"])
            #expect(try await names(c, f, "owner=proj-bob") == ["zeta", "epsilon"])
            #expect(try await names(c, f, "min_ram=512") == ["alpha"])
            #expect(try await names(c, f, "protected=true") == ["beta"])
            #expect(try await names(c, f, "protected=false") == ["zeta", "epsilon", "gamma", "alpha"])
            let checksum = try await c.send(.get, "/v2/images/\(f.ids["epsilon"]!)").json["checksum"]!.stringValue!
            #expect(try await names(c, f, "checksum=\(checksum)") == ["epsilon"])
        }
    }

    @Test func propertyTagAndSizeFilters() async throws {
        try await withFixture { (c, f) async throws in
            #expect(try await names(c, f, "os_distro=ubuntu") == ["alpha"])
            #expect(try await names(c, f, "os_distro=none").isEmpty)
            #expect(try await names(c, f, "tag=x") == ["beta", "alpha"])
            #expect(try await names(c, f, "tag=x&tag=y") == ["alpha"])
            #expect(try await names(c, f, "size_min=50") == ["epsilon", "beta"])
            #expect(try await names(c, f, "size_max=100") == ["epsilon", "alpha"])
            #expect(try await names(c, f, "size_min=11&size_max=999") == ["epsilon"])
            #expect(try await c.send(.get, "/v2/images?size_min=big").status == .badRequest)
        }
    }

    @Test func timeOperators() async throws {
        try await withFixture { (c, f) async throws in
            let gamma = try await c.send(.get, "/v2/images/\(f.ids["gamma"]!)").json
            let created = gamma["created_at"]!.stringValue!
            #expect(try await names(c, f, "created_at=gte:\(created)") == ["zeta", "epsilon", "gamma"])
            #expect(try await names(c, f, "created_at=gt:\(created)") == ["zeta", "epsilon"])
            #expect(try await names(c, f, "created_at=lt:\(created)") == ["beta", "alpha"])
            #expect(try await names(c, f, "created_at=lte:\(created)") == ["gamma", "beta", "alpha"])
            #expect(try await names(c, f, "created_at=eq:\(created)") == ["gamma"])
            #expect(try await names(c, f, "created_at=neq:\(created)") == ["zeta", "epsilon", "beta", "alpha"])
            #expect(try await names(c, f, "updated_at=gte:2000-01-01T00:00:00Z").count == 5)
            #expect(try await names(c, f, "updated_at=lt:2000-01-01T00:00:00%2B01:00").isEmpty)
            #expect(try await c.send(.get, "/v2/images?created_at=gt:yesterday").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?changes-since=2020-01-01T00:00:00Z").status == .badRequest)
        }
    }

    @Test func visibilityFiltersForAMember() async throws {
        try await withFixture { (c, f) async throws in
            // Alice sees public, her own (any visibility), not others' community images by default.
            #expect(try await names(c, f, "", as: Who.alice) == ["gamma", "beta", "alpha"])
            #expect(try await names(c, f, "visibility=community", as: Who.alice) == ["zeta", "gamma"])
            #expect(try await names(c, f, "visibility=all", as: Who.alice) == ["zeta", "gamma", "beta", "alpha"])
            #expect(try await names(c, f, "visibility=private", as: Who.alice) == ["beta"])
            #expect(try await names(c, f, "visibility=public", as: Who.alice) == ["alpha"])
            #expect(try await names(c, f, "visibility=shared", as: Who.alice).isEmpty)
            #expect(try await names(c, f, "visibility=private", as: Who.bob).isEmpty)
            #expect(try await c.send(.get, "/v2/images?visibility=everyone").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?member_status=maybe").status == .badRequest)
        }
    }

    @Test func memberStatusFilter() async throws {
        try await withFixture { (c, f) async throws in
            let eps = f.ids["epsilon"]!
            _ = try await c.send(.post, "/v2/images/\(eps)/members", json: #"{"member": "proj-alice"}"#, as: Who.bob)
            #expect(try await names(c, f, "visibility=shared", as: Who.alice).isEmpty)
            #expect(try await names(c, f, "member_status=pending&visibility=shared", as: Who.alice) == ["epsilon"])
            #expect(try await names(c, f, "member_status=all", as: Who.alice).contains("epsilon"))
            _ = try await c.send(.put, "/v2/images/\(eps)/members/proj-alice", json: #"{"status": "rejected"}"#, as: Who.alice)
            #expect(try await names(c, f, "member_status=rejected", as: Who.alice).contains("epsilon"))
            #expect(try await names(c, f, "", as: Who.alice).contains("epsilon") == false)
            _ = try await c.send(.put, "/v2/images/\(eps)/members/proj-alice", json: #"{"status": "accepted"}"#, as: Who.alice)
            #expect(try await names(c, f, "visibility=shared", as: Who.alice) == ["epsilon"])
        }
    }

    @Test func sortKeysAndDirections() async throws {
        try await withFixture { (c, f) async throws in
            #expect(try await names(c, f, "sort_key=name&sort_dir=asc") == ["zeta", "alpha", "beta", "epsilon", "gamma"])
            #expect(try await names(c, f, "sort=name:desc") == ["gamma", "epsilon", "beta", "alpha", "zeta"])
            // gamma and zeta have no size: their tie goes by created_at in the one direction given.
            #expect(try await names(c, f, "sort_key=size&sort_dir=asc") == ["gamma", "zeta", "alpha", "epsilon", "beta"])
            #expect(try await names(c, f, "sort=disk_format:asc,name:asc") == ["beta", "gamma", "zeta", "alpha", "epsilon"])
            #expect(try await names(c, f, "sort_key=disk_format&sort_dir=desc&sort_key=name&sort_dir=asc") == ["zeta", "alpha", "epsilon", "beta", "gamma"])
            #expect(try await names(c, f, "sort_key=container_format&sort_key=name&sort_dir=asc") == ["zeta", "alpha", "beta", "epsilon", "gamma"])
            #expect(try await names(c, f, "sort_key=created_at&sort_dir=asc") == ["alpha", "beta", "gamma", "epsilon", "zeta"])
            #expect(try await names(c, f, "sort=status:asc,created_at:asc") == ["alpha", "beta", "epsilon", "gamma", "zeta"])
            #expect(try await names(c, f, "sort_key=updated_at&sort_dir=desc").first == "epsilon")
            #expect(try await names(c, f, "sort=id:asc") == f.ids.filter { $0.key != "delta" }.sorted { $0.value < $1.value }.map(\.key))
            #expect(try await c.send(.get, "/v2/images?sort_key=owner").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?sort_dir=sideways").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?sort=name:asc&sort_key=size").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc").status == .badRequest)
        }
    }

    /// Ties on the sort keys are ordered by `created_at` and `id` in the request's direction
    /// when it gave exactly one, else newest first, as Glance's database layer orders them.
    @Test func tiesFollowTheRequestsSingleDirection() async throws {
        let clock = SteppingClock()
        let g = try await TestGlimpse.make(clock: { clock.now() })
        try await g.test { (c) async throws in
            var twins: [String] = []
            for _ in 0..<3 {
                twins.append(try await c.create(#"{"name": "twin", "disk_format": "raw", "container_format": "bare"}"#))
            }
            let oldestFirst = twins
            let newestFirst = Array(twins.reversed())
            let cases: [(String, [String])] = [
                ("sort_key=name&sort_dir=asc", oldestFirst),
                ("sort_key=name", newestFirst),
                ("sort_key=name&sort_dir=desc", newestFirst),
                ("sort=name:asc", oldestFirst),
                ("sort=name", newestFirst),
                ("sort=name:asc,disk_format:asc", newestFirst),
                ("sort_key=name&sort_key=disk_format&sort_dir=asc", oldestFirst),
                ("sort_key=name&sort_key=disk_format&sort_dir=asc&sort_dir=asc", newestFirst),
            ]
            for (sort, want) in cases {
                #expect(try await c.ids("name=twin&" + sort) == want, "\(sort)")
                // Paging one image at a time walks the same order.
                var collected: [String] = []
                var uri = "/v2/images?name=twin&limit=1&" + sort
                for _ in 0..<5 {
                    let page = try await c.send(.get, uri).json
                    collected += page["images"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
                    guard let next = page["next"]?.stringValue else { break }
                    uri = next
                }
                #expect(collected == want, "paged \(sort)")
            }
        }
    }

    @Test func pagingFollowsNextAcrossEverySort() async throws {
        try await withFixture { (c, f) async throws in
            for sort in ["", "sort=name:asc", "sort=size:desc", "sort=disk_format:asc,name:desc", "sort_key=status&sort_dir=asc"] {
                let full = try await c.ids(sort)
                var collected: [String] = []
                var uri = "/v2/images?" + (sort.isEmpty ? "limit=2" : sort + "&limit=2")
                var pages = 0
                while pages < 10 {
                    let r = try await c.send(.get, uri)
                    let page = r.json
                    collected += page["images"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
                    pages += 1
                    guard let next = page["next"]?.stringValue else { break }
                    #expect(next.hasPrefix("/v2/images?"))
                    uri = next
                }
                #expect(collected == full, "sort \(sort)")
                #expect(pages == 3)
            }
            let first = try await c.send(.get, "/v2/images?limit=2&name=alpha").json
            #expect(first["first"] == .string("/v2/images?limit=2&name=alpha"))
            #expect(first["next"] == nil)
            #expect(first["schema"] == .string("/v2/schemas/images"))
            #expect(try await c.send(.get, "/v2/images?marker=7a7cae2b-3a4c-4b5e-9e0f-0123456789ab").status == .badRequest)
            #expect(try await c.ids("limit=0").isEmpty)
        }
    }

    @Test func limitIsCappedAtApiLimitMax() async throws {
        let g = try await TestGlimpse.make(configure: { $0.limitMax = 3 })
        try await g.test { (c) async throws in
            for _ in 0..<5 { _ = try await c.create() }
            #expect(try await c.ids("limit=100").count == 3)
            #expect(try await c.ids("").count == 3)
        }
    }
}
