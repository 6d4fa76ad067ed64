import Foundation
import GlimpseDomain
import Testing

@Suite struct ImagePatchTests {
    let admin = Principal(projectID: "p1", userID: "u", roles: ["admin", "member", "reader"])
    let member = Principal(projectID: "p1", userID: "u", roles: ["member", "reader"])
    let attributes = ImageAttributes()

    func image(status: ImageStatus = .queued) -> Image {
        var i = Image(id: "11111111-2222-3333-4444-555555555555", name: "n", status: status, owner: "p1",
                      containerFormat: "bare", diskFormat: "raw", createdAt: Date(timeIntervalSince1970: 0))
        i.properties = ["os_distro": "cirros"]
        return i
    }

    func apply(_ json: String, to img: Image? = nil, as who: Principal? = nil,
               media: ImagePatch.MediaType = .v21) throws -> Image {
        let patch = try ImagePatch(try JSONValue.parse(Array(json.utf8)), mediaType: media)
        return try patch.apply(to: img ?? image(), principal: who ?? member, attributes: attributes)
    }

    func code(_ json: String, to img: Image? = nil, as who: Principal? = nil, media: ImagePatch.MediaType = .v21) -> GlimpseError.Code? {
        do {
            _ = try apply(json, to: img, as: who, media: media)
            return nil
        } catch let e as GlimpseError {
            return e.code
        } catch {
            return .internal
        }
    }

    @Test func addReplaceRemoveOnAdditionalProperties() throws {
        let r = try apply(#"[{"op":"add","path":"/hw_disk_bus","value":"scsi"},{"op":"replace","path":"/os_distro","value":"ubuntu"},{"op":"remove","path":"/hw_disk_bus"}]"#)
        #expect(r.properties == ["os_distro": "ubuntu"])
    }

    @Test func addOnExistingReplacesUnderV21ButConflictsUnderV20() throws {
        #expect(try apply(#"[{"op":"add","path":"/os_distro","value":"x"}]"#).properties["os_distro"] == "x")
        #expect(code(#"[{"add":"/os_distro","value":"x"}]"#, media: .v20) == .conflict)
        #expect(try apply(#"[{"replace":"/name","value":"v20"}]"#, media: .v20).name == "v20")
    }

    @Test func replaceOrRemoveOfMissingPropertyConflicts() {
        #expect(code(#"[{"op":"replace","path":"/nope","value":"x"}]"#) == .conflict)
        #expect(code(#"[{"op":"remove","path":"/nope"}]"#) == .conflict)
    }

    @Test func removingABaseAttributeIsForbidden() {
        #expect(code(#"[{"op":"remove","path":"/name"}]"#) == .forbidden)
        #expect(code(#"[{"op":"remove","path":"/min_ram"}]"#) == .forbidden)
    }

    @Test(arguments: ["status", "checksum", "size", "virtual_size", "id", "created_at", "updated_at", "os_hash_value",
                      "os_hash_algo", "self", "file", "schema", "direct_url", "stores"])
    func readOnlyAttributesAreForbidden(_ key: String) {
        #expect(code(#"[{"op":"replace","path":"/\#(key)","value":"x"}]"#) == .forbidden)
    }

    @Test(arguments: ["deleted", "deleted_at", "location", "os_glance_import_task", "os_glance_anything"])
    func reservedAttributesAreForbidden(_ key: String) {
        #expect(code(#"[{"op":"add","path":"/\#(key)","value":"x"}]"#) == .forbidden)
    }

    @Test func unsupportedOperationsAndPointers() {
        #expect(code(#"[{"op":"move","from":"/a","path":"/b"}]"#) == .badRequest)
        #expect(code(#"[{"op":"test","path":"/name","value":"n"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"name","value":"x"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"/a/b","value":"x"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"/tags/-","value":"x"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","value":"x"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"/x"}]"#) == .badRequest)
        #expect(code(#"{"op":"add"}"#) == .badRequest)
        #expect(code(#"["add"]"#) == .badRequest)
        #expect(code(#"[{"add":"/a","remove":"/b","value":"x"}]"#, media: .v20) == .badRequest)
    }

    @Test func pointerEscapes() throws {
        let r = try apply(#"[{"op":"add","path":"/a~1b~0c","value":"x"}]"#)
        #expect(r.properties["a/b~c"] == "x")
        #expect(code(#"[{"op":"add","path":"/a~2","value":"x"}]"#) == .badRequest)
    }

    @Test func valueTypesAreChecked() {
        #expect(code(#"[{"op":"replace","path":"/min_ram","value":"5"}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/min_disk","value":-1}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/protected","value":"yes"}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/os_hidden","value":1}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/visibility","value":"everyone"}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/disk_format","value":"floppy"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"/custom","value":5}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/tags","value":"a"}]"#) == .badRequest)
        #expect(code(#"[{"op":"replace","path":"/name","value":"\#(String(repeating: "n", count: 256))"}]"#) == .badRequest)
        #expect(code(#"[{"op":"add","path":"/\#(String(repeating: "k", count: 256))","value":"v"}]"#) == .badRequest)
    }

    @Test func coreValuesApply() throws {
        let r = try apply(#"[{"op":"replace","path":"/min_ram","value":512},{"op":"replace","path":"/protected","value":true},{"op":"replace","path":"/os_hidden","value":true},{"op":"replace","path":"/name","value":null},{"op":"replace","path":"/tags","value":["a","b","a"]},{"op":"replace","path":"/visibility","value":"community"}]"#)
        #expect(r.minRam == 512 && r.protected && r.osHidden && r.name == nil)
        #expect(r.tags == ["a", "b"])
        #expect(r.visibility == .community)
    }

    @Test func formatsChangeOnlyWhileQueued() throws {
        #expect(try apply(#"[{"op":"replace","path":"/disk_format","value":"qcow2"}]"#).diskFormat == "qcow2")
        #expect(code(#"[{"op":"replace","path":"/disk_format","value":"qcow2"}]"#, to: image(status: .active)) == .forbidden)
        #expect(code(#"[{"op":"replace","path":"/container_format","value":"ovf"}]"#, to: image(status: .active)) == .forbidden)
        // Setting the same value is not a change.
        #expect(try apply(#"[{"op":"replace","path":"/disk_format","value":"raw"}]"#, to: image(status: .active)).diskFormat == "raw")
    }

    @Test func publicizeNeedsAdminAndOwnerChangeNeedsAdmin() throws {
        #expect(code(#"[{"op":"replace","path":"/visibility","value":"public"}]"#) == .forbidden)
        #expect(try apply(#"[{"op":"replace","path":"/visibility","value":"public"}]"#, as: admin).visibility == .public)
        #expect(code(#"[{"op":"replace","path":"/owner","value":"p2"}]"#) == .forbidden)
        #expect(try apply(#"[{"op":"replace","path":"/owner","value":"p2"}]"#, as: admin).owner == "p2")
    }

    @Test func locationsAreNotExposed() {
        #expect(code(#"[{"op":"add","path":"/locations/-","value":{"url":"http://x","metadata":{}}}]"#) == .forbidden)
    }

    @Test func quotasGive413() throws {
        let small = ImageAttributes(propertyQuota: 1, tagQuota: 1)
        let patch = try ImagePatch(try JSONValue.parse(Array(#"[{"op":"add","path":"/x","value":"1"}]"#.utf8)), mediaType: .v21)
        #expect(throws: GlimpseError.self) { try patch.apply(to: image(), principal: member, attributes: small) }
        let tags = try ImagePatch(try JSONValue.parse(Array(#"[{"op":"replace","path":"/tags","value":["a","b"]}]"#.utf8)), mediaType: .v21)
        do {
            _ = try tags.apply(to: image(), principal: member, attributes: small)
            Issue.record("expected a quota error")
        } catch let e as GlimpseError {
            #expect(e.code == .payloadTooLarge)
        }
    }

    @Test func failedPatchChangesNothing() throws {
        let original = image()
        #expect(code(#"[{"op":"replace","path":"/name","value":"new"},{"op":"remove","path":"/missing"}]"#, to: original) == .conflict)
        #expect(original.name == "n")
    }
}
