import Crypto
import Foundation
import GlimpseDomain
import GlimpseCore
import GlimpseStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct ImageAPITests {
    @Test func versionsDocument() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let root = try await c.send(.get, "/")
            #expect(root.status == .multipleChoices)
            let versions = try await c.send(.get, "/versions")
            #expect(versions.status == .ok)
            let list = versions.json["versions"]?.arrayValue ?? []
            #expect(list.contains { $0.objectValue?["status"] == .string("CURRENT") && $0.objectValue?["id"] == .string("v2.17") })
            #expect(versions.headers[HTTPField.Name("x-openstack-request-id")!]?.hasPrefix("req-") == true)
        }
    }

    @Test func createShowAndDefaults() async throws {
        let g = try await TestGlimpse.make(configure: { $0.enabledImportMethods = ["glance-direct", "web-download"] })
        try await g.test { (c) async throws in
            let r = try await c.send(.post, "/v2/images", json: #"{"name": "cirros", "os_distro": "cirros", "tags": ["a"]}"#, as: Who.alice)
            #expect(r.status == .created)
            let id = try #require(r.json["id"]?.stringValue)
            #expect(r.headers[.location] == "/v2/images/\(id)")
            #expect(r.headers[HTTPField.Name("OpenStack-image-import-methods")!] == "glance-direct,web-download")
            #expect(r.headers[HTTPField.Name("OpenStack-image-store-ids")!] == nil, "single store: no store ids")
            let j = r.json
            #expect(j["status"] == .string("queued"))
            #expect(j["visibility"] == .string("shared"))
            #expect(j["owner"] == .string("proj-alice"))
            #expect(j["size"] == .null && j["checksum"] == .null && j["disk_format"] == .null)
            #expect(j["os_distro"] == .string("cirros"))
            #expect(j["self"] == .string("/v2/images/\(id)"))
            #expect(j["file"] == .string("/v2/images/\(id)/file"))
            #expect(j["schema"] == .string("/v2/schemas/image"))
            let shown = try await c.send(.get, "/v2/images/\(id)", as: Who.alice)
            #expect(shown.status == .ok)
            #expect(shown.json == j)
        }
    }

    @Test func createWithGivenIDAndDuplicate() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = "7a7cae2b-3a4c-4b5e-9e0f-0123456789ab"
            #expect(try await c.send(.post, "/v2/images", json: #"{"id": "\#(id)"}"#).status == .created)
            #expect(try await c.send(.post, "/v2/images", json: #"{"id": "\#(id)"}"#).status == .conflict)
            // A deleted image's id stays taken (OSSN-0075).
            #expect(try await c.send(.delete, "/v2/images/\(id)").status == .noContent)
            #expect(try await c.send(.post, "/v2/images", json: #"{"id": "\#(id)"}"#).status == .conflict)
        }
    }

    @Test func badInputGetsGlanceCodes() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            #expect(try await c.send(.post, "/v2/images", json: "{bad").status == .badRequest)
            #expect(try await c.send(.post, "/v2/images", json: "[1]").status == .badRequest)
            #expect(try await c.send(.post, "/v2/images", json: #"{"id": "not-a-uuid"}"#).status == .badRequest)
            #expect(try await c.send(.post, "/v2/images", json: #"{"unknown_field": 5}"#).status == .badRequest)
            #expect(try await c.send(.post, "/v2/images", json: #"{"status": "active"}"#).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images", json: #"{"size": 5}"#).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images", json: #"{"os_glance_import_task": "x"}"#).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images", json: #"{"deleted": "x"}"#).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images", json: #"{"min_ram": "big"}"#).status == .badRequest)
            #expect(try await c.send(.post, "/v2/images", json: #"{"disk_format": "floppy"}"#).status == .badRequest)
            let longName = String(repeating: "x", count: 256)
            #expect(try await c.send(.post, "/v2/images", json: #"{"name": "\#(longName)"}"#).status == .badRequest)
            let huge = #"{"name": "\#(String(repeating: "x", count: 200_000))"}"#
            #expect(try await c.send(.post, "/v2/images", json: huge).status == .contentTooLarge)
            #expect(try await c.send(.get, "/v2/images/not-a-uuid").status == .notFound)
            #expect(try await c.send(.get, "/v2/images/7a7cae2b-3a4c-4b5e-9e0f-0123456789ab").status == .notFound)
            let id = try await c.create()
            let wrongType = try await c.send(.patch, "/v2/images/\(id)", json: "[]", contentType: "application/json")
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(wrongType.headers[HTTPField.Name("Accept-Patch")!]?.contains("application/openstack-images-v2.1-json-patch") == true)
            let upWrongType = try await c.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(string: "x"), contentType: "text/plain")
            #expect(upWrongType.status == .unsupportedMediaType)
            #expect(try await c.send(.get, "/v2/images?limit=abc").status == .badRequest)
            #expect(try await c.send(.get, "/v2/images?limit=-1").status == .badRequest)
        }
    }

    @Test func errorBodiesFollowGlanceFormat() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let html = try await c.send(.get, "/v2/images/7a7cae2b-3a4c-4b5e-9e0f-0123456789ab")
            #expect(html.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(String(buffer: html.body).contains("<h1>404 Not Found</h1>"))
            let json = try await c.send(.get, "/v2/images/7a7cae2b-3a4c-4b5e-9e0f-0123456789ab", headers: ["Accept": "application/json"])
            #expect(json.json["code"] == .string("404 Not Found"))
            #expect(json.json["title"] == .string("Not Found"))
            #expect(json.json["message"]?.stringValue?.contains("No image found") == true)
        }
    }

    @Test func methodNotAllowedHasAllow() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await c.send(.delete, "/v2/images")
            #expect(r.status == .methodNotAllowed)
            #expect(r.headers[.allow] == "GET, POST")
            let f = try await c.send(.post, "/v2/images/7a7cae2b-3a4c-4b5e-9e0f-0123456789ab/file")
            #expect(f.status == .methodNotAllowed)
            #expect(f.headers[.allow] == "GET, PUT")
        }
    }

    @Test func requestIDIsEchoedAndBounded() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await c.send(.get, "/versions", headers: ["X-Openstack-Request-ID": "req-mine"])
            #expect(r.headers[HTTPField.Name("x-openstack-request-id")!] == "req-mine")
            let long = try await c.send(.get, "/versions", headers: ["X-Openstack-Request-ID": String(repeating: "r", count: 65)])
            #expect(long.status == .badRequest)
        }
    }

    @Test func bodyOnGetIsRefused() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            #expect(try await c.send(.get, "/v2/images/\(id)", json: "{}").status == .badRequest)
        }
    }

    @Test func uploadDownloadRoundTripWithHashes() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            let data = bytes(300_000)
            #expect(try await c.upload(id, data).status == .noContent)
            let j = try await c.send(.get, "/v2/images/\(id)").json
            #expect(j["status"] == .string("active"))
            #expect(j["size"] == .int(300_000))
            let md5 = Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined()
            let sha = SHA512.hash(data: data).map { String(format: "%02x", $0) }.joined()
            #expect(j["checksum"] == .string(md5))
            #expect(j["os_hash_algo"] == .string("sha512"))
            #expect(j["os_hash_value"] == .string(sha))
            let d = try await c.send(.get, "/v2/images/\(id)/file")
            #expect(d.status == .ok)
            #expect(Array(d.body.readableBytesView) == data)
            #expect(d.headers[HTTPField.Name("Content-MD5")!] == md5)
            // A second upload to an active image conflicts.
            #expect(try await c.upload(id, data).status == .conflict)
        }
    }

    @Test func downloadWithoutDataIs204() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            #expect(try await c.send(.get, "/v2/images/\(id)/file").status == .noContent)
        }
    }

    @Test func byteRanges() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            let data = bytes(1000)
            _ = try await c.upload(id, data)
            let r = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Range": "bytes=10-19"])
            #expect(r.status == .partialContent)
            #expect(r.headers[.contentRange] == "bytes 10-19/1000")
            #expect(Array(r.body.readableBytesView) == Array(data[10...19]))
            let suffix = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Range": "bytes=-5"])
            #expect(Array(suffix.body.readableBytesView) == Array(data[995...]))
            let open = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Range": "bytes=990-"])
            #expect(open.headers[.contentRange] == "bytes 990-999/1000")
            let clamp = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Range": "bytes=998-5000"])
            #expect(clamp.body.readableBytes == 2)
            let legacy = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Content-Range": "bytes 0-3/*"])
            #expect(legacy.status == .partialContent && legacy.body.readableBytes == 4)
            for bad in ["bytes=1000-", "bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=-0"] {
                let b = try await c.send(.get, "/v2/images/\(id)/file", headers: ["Range": bad])
                #expect(b.status == .rangeNotSatisfiable, "\(bad)")
                #expect(b.headers[.contentRange] == "bytes */1000")
            }
        }
    }

    @Test func declaredSizeAndSizeCap() async throws {
        let g = try await TestGlimpse.make(configure: { $0.imageSizeCap = 100 })
        try await g.test { (c) async throws in
            let id = try await c.create()
            let mismatch = try await c.send(
                .put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: bytes(50)), contentType: "application/octet-stream",
                headers: ["x-openstack-image-size": "40"])
            #expect(mismatch.status == .badRequest)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["status"] == .string("queued"))
            #expect(try await c.upload(id, bytes(101)).status == .contentTooLarge)
            let after = try await c.send(.get, "/v2/images/\(id)").json
            #expect(after["status"] == .string("queued"))
            #expect(after["size"] == .null && after["checksum"] == .null)
            #expect(g.store.objectCount == 0)
            #expect(try await c.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: bytes(60)),
                                     contentType: "application/octet-stream", headers: ["x-openstack-image-size": "60"]).status == .noContent)
            #expect(g.store.objectCount == 1)
        }
    }

    @Test func uploadNeedsFormats() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create(#"{"name": "no formats"}"#)
            #expect(try await c.upload(id, bytes(10)).status == .badRequest)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["status"] == .string("queued"))
        }
    }

    @Test func protectedImageCannotBeDeleted() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create(#"{"name": "p", "protected": true}"#)
            #expect(try await c.send(.delete, "/v2/images/\(id)").status == .forbidden)
            #expect(try await c.patch(id, #"[{"op":"replace","path":"/protected","value":false}]"#).status == .ok)
            #expect(try await c.send(.delete, "/v2/images/\(id)").status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)").status == .notFound)
            #expect(try await c.send(.delete, "/v2/images/\(id)").status == .notFound)
        }
    }

    @Test func deleteRemovesData() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            _ = try await c.upload(id, bytes(100))
            #expect(g.store.objectCount == 1)
            #expect(try await c.send(.delete, "/v2/images/\(id)").status == .noContent)
            #expect(g.store.objectCount == 0)
        }
    }

    @Test func deactivateAndReactivate() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create(#"{"name": "d", "disk_format": "raw", "container_format": "bare", "visibility": "public"}"#)
            // Only active images can be deactivated.
            #expect(try await c.send(.post, "/v2/images/\(id)/actions/deactivate").status == .forbidden)
            _ = try await c.upload(id, bytes(10))
            #expect(try await c.send(.post, "/v2/images/\(id)/actions/deactivate", as: Who.bob).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images/\(id)/actions/deactivate").status == .noContent)
            #expect(try await c.send(.post, "/v2/images/\(id)/actions/deactivate").status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["status"] == .string("deactivated"))
            #expect(try await c.send(.get, "/v2/images/\(id)/file", as: Who.bob).status == .forbidden)
            #expect(try await c.send(.get, "/v2/images/\(id)/file").status == .ok)
            #expect(try await c.send(.post, "/v2/images/\(id)/actions/reactivate").status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)/file", as: Who.bob).status == .ok)
        }
    }

    @Test func tags() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            #expect(try await c.send(.put, "/v2/images/\(id)/tags/blue").status == .noContent)
            #expect(try await c.send(.put, "/v2/images/\(id)/tags/blue").status == .noContent)
            #expect(try await c.send(.put, "/v2/images/\(id)/tags/with%20space").status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["tags"] == .array([.string("blue"), .string("with space")]))
            #expect(try await c.send(.put, "/v2/images/\(id)/tags/\(String(repeating: "t", count: 256))").status == .badRequest)
            #expect(try await c.send(.delete, "/v2/images/\(id)/tags/blue").status == .noContent)
            #expect(try await c.send(.delete, "/v2/images/\(id)/tags/blue").status == .notFound)
        }
    }

    @Test func projectsCannotSeeEachOthersPrivateImages() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let priv = try await c.create(#"{"name": "secret", "visibility": "private"}"#, as: Who.alice)
            #expect(try await c.send(.get, "/v2/images/\(priv)", as: Who.bob).status == .notFound)
            #expect(try await c.ids("", as: Who.bob).contains(priv) == false)
            #expect(try await c.send(.delete, "/v2/images/\(priv)", as: Who.bob).status == .notFound)
            #expect(try await c.patch(priv, #"[{"op":"replace","path":"/name","value":"x"}]"#, as: Who.bob).status == .notFound)
            #expect(try await c.send(.get, "/v2/images/\(priv)", as: Who.alice).status == .ok)
            // Publicizing needs admin.
            #expect(try await c.send(.post, "/v2/images", json: #"{"visibility": "public"}"#, as: Who.alice).status == .forbidden)
            // Readers cannot create or modify.
            #expect(try await c.send(.post, "/v2/images", json: #"{"name": "r"}"#, as: Who.aliceReader).status == .forbidden)
            #expect(try await c.patch(priv, #"[{"op":"replace","path":"/name","value":"x"}]"#, as: Who.aliceReader).status == .forbidden)
            // Creating for another project needs admin.
            #expect(try await c.send(.post, "/v2/images", json: #"{"owner": "proj-bob"}"#, as: Who.alice).status == .forbidden)
        }
    }

    @Test func sharingWithMembers() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create(#"{"name": "shared one"}"#, as: Who.alice)
            #expect(try await c.send(.get, "/v2/images/\(id)", as: Who.bob).status == .notFound)
            let add = try await c.send(.post, "/v2/images/\(id)/members", json: #"{"member": "proj-bob"}"#, as: Who.alice)
            #expect(add.status == .ok)
            #expect(add.json["status"] == .string("pending"))
            #expect(add.json["member_id"] == .string("proj-bob"))
            #expect(add.json["schema"] == .string("/v2/schemas/member"))
            #expect(try await c.send(.post, "/v2/images/\(id)/members", json: #"{"member": "proj-bob"}"#, as: Who.alice).status == .conflict)
            #expect(try await c.send(.post, "/v2/images/\(id)/members", json: #"{}"#, as: Who.alice).status == .badRequest)
            // Members see the image at once, but it enters their list only once accepted.
            #expect(try await c.send(.get, "/v2/images/\(id)", as: Who.bob).status == .ok)
            #expect(try await c.ids("", as: Who.bob).contains(id) == false)
            #expect(try await c.ids("member_status=pending", as: Who.bob).contains(id))
            // The owner cannot accept for the member; bad statuses are 400.
            #expect(try await c.send(.put, "/v2/images/\(id)/members/proj-bob", json: #"{"status": "accepted"}"#, as: Who.alice).status == .forbidden)
            #expect(try await c.send(.put, "/v2/images/\(id)/members/proj-bob", json: #"{"status": "maybe"}"#, as: Who.bob).status == .badRequest)
            let accept = try await c.send(.put, "/v2/images/\(id)/members/proj-bob", json: #"{"status": "accepted"}"#, as: Who.bob)
            #expect(accept.status == .ok && accept.json["status"] == .string("accepted"))
            #expect(try await c.ids("", as: Who.bob).contains(id))
            let list = try await c.send(.get, "/v2/images/\(id)/members", as: Who.alice)
            #expect(list.json["members"]?.arrayValue?.count == 1)
            #expect(list.json["schema"] == .string("/v2/schemas/members"))
            #expect(try await c.send(.get, "/v2/images/\(id)/members/proj-bob", as: Who.bob).status == .ok)
            // A member cannot remove itself or add others.
            #expect(try await c.send(.delete, "/v2/images/\(id)/members/proj-bob", as: Who.bob).status == .forbidden)
            #expect(try await c.send(.post, "/v2/images/\(id)/members", json: #"{"member": "x"}"#, as: Who.bob).status == .forbidden)
            #expect(try await c.send(.delete, "/v2/images/\(id)/members/proj-bob", as: Who.alice).status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)", as: Who.bob).status == .notFound)
            // Members only exist on shared images.
            let priv = try await c.create(#"{"visibility": "private"}"#, as: Who.alice)
            #expect(try await c.send(.post, "/v2/images/\(priv)/members", json: #"{"member": "proj-bob"}"#, as: Who.alice).status == .forbidden)
            #expect(try await c.send(.get, "/v2/images/\(priv)/members", as: Who.alice).status == .forbidden)
        }
    }

    @Test func schemas() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            for name in ["image", "images", "member", "members"] {
                let r = try await c.send(.get, "/v2/schemas/\(name)")
                #expect(r.status == .ok)
                #expect(r.json["name"] == .string(name))
            }
            let image = try await c.send(.get, "/v2/schemas/image").json
            let disk = image["properties"]?.objectValue?["disk_format"]?.objectValue?["enum"]?.arrayValue
            #expect(disk?.contains(.string("qcow2")) == true)
            #expect(image["additionalProperties"]?.objectValue?["type"] == .string("string"))
        }
    }

    @Test func patchThroughTheAPI() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let id = try await c.create()
            let r = try await c.patch(id, #"[{"op":"add","path":"/os_distro","value":"fedora"},{"op":"replace","path":"/name","value":"f"}]"#)
            #expect(r.status == .ok)
            #expect(r.json["os_distro"] == .string("fedora") && r.json["name"] == .string("f"))
            #expect(try await c.patch(id, #"[{"op":"remove","path":"/os_distro"}]"#).json["os_distro"] == nil)
            #expect(try await c.patch(id, #"[{"op":"remove","path":"/os_distro"}]"#).status == .conflict)
            #expect(try await c.patch(id, #"[{"op":"replace","path":"/status","value":"active"}]"#).status == .forbidden)
            #expect(try await c.patch(id, "{bad").status == .badRequest)
            // A property removed and added again revives its row (unique on image_id, name).
            #expect(try await c.patch(id, #"[{"op":"add","path":"/os_distro","value":"again"}]"#).json["os_distro"] == .string("again"))
            #expect(try await c.send(.get, "/v2/images/\(id)").json["os_distro"] == .string("again"))
        }
    }
}
