import Crypto
import Foundation
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Image API v1 (Juno's `x-image-meta-*` protocol) on the same catalog as v2.
@Suite struct ImageAPIv1Tests {
    static let meta = ["x-image-meta-name": "cirros", "x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare"]

    func md5(_ data: [UInt8]) -> String { Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    func post(_ c: Client, _ data: [UInt8]?, headers: [String: String] = meta, as who: [String: String] = Who.admin) async throws -> TestResponse {
        try await c.send(.post, "/v1/images", body: data.map { ByteBuffer(bytes: $0) },
                         contentType: data == nil ? nil : "application/octet-stream", as: who, headers: headers)
    }

    @Test func createWithDataThenHeadGetAndV2() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let data = bytes(5000)
            let r = try await post(c, data, headers: Self.meta.merging(["x-image-meta-property-os_distro": "cirros"]) { $1 })
            #expect(r.status == .created)
            let image = try #require(r.json["image"]?.objectValue)
            let id = try #require(image["id"]?.stringValue)
            #expect(image["status"] == .string("active"))
            #expect(image["size"] == .int(5000))
            #expect(image["checksum"] == .string(md5(data)))
            #expect(image["is_public"] == .bool(false))
            #expect(image["properties"]?.objectValue?["os_distro"] == .string("cirros"))
            #expect(r.headers[.eTag] == md5(data))
            #expect(r.headers[.location]?.hasSuffix("/v1/images/\(id)") == true)
            let head = try await c.send(.head, "/v1/images/\(id)")
            #expect(head.status == .ok)
            #expect(head.headers[HTTPField.Name("x-image-meta-checksum")!] == md5(data))
            #expect(head.headers[HTTPField.Name("x-image-meta-is_public")!] == "False")
            #expect(head.headers[HTTPField.Name("x-image-meta-property-os_distro")!] == "cirros")
            let get = try await c.send(.get, "/v1/images/\(id)")
            #expect(Array(get.body.readableBytesView) == data)
            #expect(get.headers[HTTPField.Name("x-image-meta-size")!] == "5000")
            // The same image through v2.
            let v2 = try await c.send(.get, "/v2/images/\(id)").json
            #expect(v2["visibility"] == .string("shared") && v2["checksum"] == .string(md5(data)))
            #expect(v2["os_distro"] == .string("cirros"))
            #expect(Array(try await c.send(.get, "/v2/images/\(id)/file").body.readableBytesView) == data)
        }
    }

    @Test func base64BodyIsDecoded() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let data = bytes(3001)
            let text = Array(Data(data).base64EncodedString(options: .lineLength76Characters).utf8)
            let r = try await post(c, text, headers: Self.meta.merging(["Content-Transfer-Encoding": "base64"]) { $1 })
            #expect(r.status == .created)
            #expect(r.json["image"]?.objectValue?["size"] == .int(3001))
            #expect(r.json["image"]?.objectValue?["checksum"] == .string(md5(data)))
            let bad = try await post(c, Array("!!!!".utf8), headers: Self.meta.merging(["Content-Transfer-Encoding": "base64"]) { $1 })
            #expect(bad.status == .badRequest)
            let other = try await post(c, data, headers: Self.meta.merging(["Content-Transfer-Encoding": "quoted-printable"]) { $1 })
            #expect(other.status == .badRequest)
        }
    }

    @Test func publicityAgreesBetweenVersions() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await post(c, nil, headers: Self.meta.merging(["x-image-meta-is_public": "true"]) { $1 })
            let id = try #require(r.json["image"]?.objectValue?["id"]?.stringValue)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["visibility"] == .string("public"))
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-is_public": "false"]).status == .ok)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["visibility"] == .string("shared"))
            // A v2 image is visible through v1 with is_public matching.
            let v2id = try await c.create(#"{"name": "from v2", "visibility": "public", "disk_format": "raw", "container_format": "bare"}"#)
            let detail = try await c.send(.get, "/v1/images/detail").json["images"]?.arrayValue ?? []
            let entry = detail.compactMap(\.objectValue).first { $0["id"] == .string(v2id) }
            #expect(entry?["is_public"] == .bool(true))
            let summary = try await c.send(.get, "/v1/images?is_public=true").json["images"]?.arrayValue ?? []
            #expect(summary.compactMap { $0.objectValue?["id"]?.stringValue } == [v2id])
            #expect(summary.first?.objectValue?.keys.sorted() == ["checksum", "container_format", "disk_format", "id", "name", "size"])
        }
    }

    @Test func errorPaths() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            #expect(try await post(c, nil, headers: Self.meta.merging(["x-image-meta-colour": "red"]) { $1 }).status == .badRequest)
            #expect(try await post(c, nil, headers: Self.meta.merging(["x-image-meta-min_ram": "lots"]) { $1 }).status == .badRequest)
            #expect(try await post(c, nil, headers: Self.meta.merging(["x-image-meta-size": "-5"]) { $1 }).status == .badRequest)
            #expect(try await post(c, nil, headers: Self.meta.merging(["x-image-meta-location": "http://x/y"]) { $1 }).status == .badRequest)
            // Checksum mismatch: 400, the image is killed and no data is kept.
            let data = bytes(100)
            let bad = try await post(c, data, headers: Self.meta.merging(["x-image-meta-checksum": String(repeating: "0", count: 32)]) { $1 })
            #expect(bad.status == .badRequest)
            #expect(g.store.objectCount == 0)
            let killed = try await c.ids("status=killed")
            #expect(killed.count == 1)
            // Size mismatch: the same.
            #expect(try await post(c, data, headers: Self.meta.merging(["x-image-meta-size": "99"]) { $1 }).status == .badRequest)
            #expect(try await c.ids("status=killed").count == 2)
            #expect(g.store.objectCount == 0)
            // Matching declarations are fine.
            let good = try await post(c, data, headers: Self.meta.merging(["x-image-meta-size": "100", "x-image-meta-checksum": md5(data)]) { $1 })
            #expect(good.status == .created)
            let id = try #require(good.json["image"]?.objectValue?["id"]?.stringValue)
            // Immutable fields.
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-status": "queued"]).status == .forbidden)
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-size": "5"]).status == .forbidden)
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-checksum": md5([1])]).status == .forbidden)
            // A body on a non-queued image.
            let again = try await c.send(.put, "/v1/images/\(id)", body: ByteBuffer(bytes: data), contentType: "application/octet-stream")
            #expect(again.status == .conflict)
            // Protected images cannot be deleted.
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-protected": "True"]).status == .ok)
            #expect(try await c.send(.delete, "/v1/images/\(id)").status == .forbidden)
            #expect(try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-protected": "False"]).status == .ok)
            #expect(try await c.send(.delete, "/v1/images/\(id)").status == .ok)
            #expect(try await c.send(.head, "/v1/images/\(id)").status == .notFound)
            #expect(try await c.send(.head, "/v1/images/detail").status == .methodNotAllowed)
            #expect(try await c.send(.get, "/v1/images?sort_key=colour").status == .badRequest)
        }
    }

    @Test func updateMetadataAndUploadWhileQueued() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await post(c, nil, headers: Self.meta.merging(["x-image-meta-property-a": "1", "x-image-meta-property-b": "2"]) { $1 })
            let id = try #require(r.json["image"]?.objectValue?["id"]?.stringValue)
            #expect(r.json["image"]?.objectValue?["status"] == .string("queued"))
            // Properties given on PUT replace the others (x-glance-registry-purge-props defaults to true)…
            let put = try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-property-a": "9", "x-image-meta-name": "renamed"])
            #expect(put.json["image"]?.objectValue?["properties"] == .object(JSONObject([("a", .string("9"))])))
            #expect(put.json["image"]?.objectValue?["name"] == .string("renamed"))
            // …unless purging is turned off.
            let keep = try await c.send(.put, "/v1/images/\(id)", headers: ["x-image-meta-property-c": "3", "x-glance-registry-purge-props": "false"])
            #expect(keep.json["image"]?.objectValue?["properties"]?.objectValue?.keys.sorted() == ["a", "c"])
            let data = bytes(700)
            let up = try await c.send(.put, "/v1/images/\(id)", body: ByteBuffer(bytes: data), contentType: "application/octet-stream")
            #expect(up.status == .ok)
            #expect(up.json["image"]?.objectValue?["status"] == .string("active"))
            #expect(up.json["image"]?.objectValue?["checksum"] == .string(md5(data)))
        }
    }

    @Test func membersAndSharedImages() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await post(c, nil, as: Who.alice)
            let id = try #require(r.json["image"]?.objectValue?["id"]?.stringValue)
            #expect(try await c.send(.put, "/v1/images/\(id)/members/proj-bob", as: Who.alice).status == .noContent)
            let list = try await c.send(.get, "/v1/images/\(id)/members", as: Who.alice).json
            #expect(list["members"] == .array([.object(JSONObject([("member_id", .string("proj-bob")), ("can_share", .bool(false))]))]))
            let shared = try await c.send(.get, "/v1/shared-images/proj-bob", as: Who.bob).json
            #expect(shared["shared_images"]?.arrayValue?.first?.objectValue?["image_id"] == .string(id))
            // v1 lists include images shared with the caller, whatever the member status.
            let bobs = try await c.send(.get, "/v1/images", as: Who.bob).json["images"]?.arrayValue ?? []
            #expect(bobs.contains { $0.objectValue?["id"] == .string(id) })
            #expect(try await c.send(.get, "/v1/shared-images/proj-bob", as: Who.alice).status == .forbidden)
            let replace = try await c.send(.put, "/v1/images/\(id)/members",
                                           json: #"{"memberships": [{"member_id": "proj-carol", "can_share": true}]}"#, as: Who.alice)
            #expect(replace.status == .noContent)
            let after = try await c.send(.get, "/v1/images/\(id)/members", as: Who.alice).json
            #expect(after["members"] == .array([.object(JSONObject([("member_id", .string("proj-carol")), ("can_share", .bool(true))]))]))
            #expect(try await c.send(.delete, "/v1/images/\(id)/members/proj-carol", as: Who.alice).status == .noContent)
            #expect(try await c.send(.get, "/v1/images/\(id)/members/proj-carol", as: Who.alice).status == .notFound)
        }
    }
}
