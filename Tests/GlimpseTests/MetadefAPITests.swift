import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpsePolicy
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `/v2/metadefs/…` through the real router, against Glance 33's behaviour.
@Suite struct MetadefAPITests {
    static let ns = "/v2/metadefs/namespaces"

    /// Creates a namespace as admin and checks it worked.
    static func namespace(_ c: Client, _ json: String) async throws {
        let r = try await c.send(.post, ns, json: json)
        guard r.status == .created else { throw TestFailure("namespace create failed: \(r.status) \(String(buffer: r.body))") }
    }

    static func names(_ r: TestResponse, _ key: String = "namespaces", field: String = "namespace") -> [String] {
        r.json[key]?.arrayValue?.compactMap { $0.objectValue?[field]?.stringValue } ?? []
    }

    @Test func createShowListDelete_withChildren() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let r = try await c.send(.post, Self.ns, json: """
                {"namespace": "OS::Compute::Demo", "display_name": "Demo", "description": "d", "visibility": "public",
                 "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_", "properties_target": "image"}],
                 "properties": {"cpu": {"title": "CPU", "type": "integer", "minimum": 1, "default": 2}},
                 "objects": [{"name": "Memory", "required": ["size"], "properties": {"size": {"title": "Size", "type": "string"}}}],
                 "tags": [{"name": "t1"}, {"name": "t2"}]}
                """)
            #expect(r.status == .created)
            #expect(r.headers[.location] == "/v2/metadefs/namespaces/OS::Compute::Demo")
            let created = r.json
            #expect(created["owner"] == .string("admin"))
            #expect(created["protected"] == .bool(false))
            #expect(created["self"] == .string("/v2/metadefs/namespaces/OS::Compute::Demo"))
            #expect(created["schema"] == .string("/v2/schemas/metadefs/namespace"))
            // Glance's model prints the default as text.
            #expect(created["properties"]?.objectValue?["cpu"]?.objectValue?["default"] == .string("2"))
            #expect(created["tags"] == .array([.object(JSONObject([("name", .string("t1"))])), .object(JSONObject([("name", .string("t2"))]))]))

            let shown = try await c.send(.get, "\(Self.ns)/OS::Compute::Demo")
            #expect(shown.status == .ok)
            let detail = shown.json
            #expect(detail["display_name"] == .string("Demo"))
            #expect(detail["created_at"]?.stringValue?.hasSuffix("Z") == true)
            let object = try #require(detail["objects"]?.arrayValue?.first?.objectValue)
            #expect(object["self"] == .string("/v2/metadefs/namespaces/OS::Compute::Demo/objects/Memory"))
            #expect(object["required"] == .array([.string("size")]))
            #expect(detail["resource_type_associations"]?.arrayValue?.first?.objectValue?["prefix"] == .string("hw_"))
            // Tags come newest first, as Glance sorts them.
            #expect(Self.names(shown, "tags", field: "name") == ["t2", "t1"])

            let list = try await c.send(.get, Self.ns)
            #expect(list.status == .ok)
            #expect(list.json["first"] == .string("/v2/metadefs/namespaces"))
            #expect(list.json["schema"] == .string("/v2/schemas/metadefs/namespaces"))
            let entry = try #require(list.json["namespaces"]?.arrayValue?.first?.objectValue)
            #expect(entry["resource_type_associations"] != nil && entry["objects"] == nil && entry["tags"] == nil)

            #expect(try await c.send(.delete, "\(Self.ns)/OS::Compute::Demo").status == .noContent)
            #expect(try await c.send(.get, "\(Self.ns)/OS::Compute::Demo").status == .notFound)
            // The children went with it; the resource type stays.
            for table in ["metadef_objects", "metadef_properties", "metadef_tags", "metadef_namespace_resource_types"] {
                #expect(try await g.executor.query("SELECT COUNT(*) AS n FROM \(table)", []).first?["n"].int == 0)
            }
            let types = try await c.send(.get, "/v2/metadefs/resource_types")
            #expect(Self.names(types, "resource_types", field: "name") == ["OS::Glance::Image"])
        }
    }

    @Test func duplicates_returnConflict() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "dup"}"#)
            #expect(try await c.send(.post, Self.ns, json: #"{"namespace": "dup"}"#).status == .conflict)
            let base = "\(Self.ns)/dup"
            #expect(try await c.send(.post, "\(base)/objects", json: #"{"name": "o"}"#).status == .created)
            #expect(try await c.send(.post, "\(base)/objects", json: #"{"name": "o"}"#).status == .conflict)
            let property = #"{"name": "p", "title": "P", "type": "string"}"#
            #expect(try await c.send(.post, "\(base)/properties", json: property).status == .created)
            #expect(try await c.send(.post, "\(base)/properties", json: property).status == .conflict)
            #expect(try await c.send(.post, "\(base)/tags/t").status == .created)
            #expect(try await c.send(.post, "\(base)/tags/t").status == .conflict)
            #expect(try await c.send(.post, "\(base)/resource_types", json: #"{"name": "RT"}"#).status == .created)
            #expect(try await c.send(.post, "\(base)/resource_types", json: #"{"name": "RT"}"#).status == .conflict)
            // A bulk create with a repeated name changes nothing.
            let bulk = try await c.send(.post, "\(base)/tags", json: #"{"tags": [{"name": "a"}, {"name": "a"}]}"#)
            #expect(bulk.status == .conflict)
            #expect(Self.names(try await c.send(.get, "\(base)/tags"), "tags", field: "name") == ["t"])
            // Renames onto an existing name conflict too.
            #expect(try await c.send(.post, "\(base)/objects", json: #"{"name": "o2"}"#).status == .created)
            #expect(try await c.send(.put, "\(base)/objects/o2", json: #"{"name": "o"}"#).status == .conflict)
            try await Self.namespace(c, #"{"namespace": "other"}"#)
            #expect(try await c.send(.put, base, json: #"{"namespace": "other"}"#).status == .conflict)
        }
    }

    @Test func missingThings_returnNotFound() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            #expect(try await c.send(.get, "\(Self.ns)/nope").status == .notFound)
            #expect(try await c.send(.put, "\(Self.ns)/nope", json: #"{"namespace": "nope"}"#).status == .notFound)
            #expect(try await c.send(.delete, "\(Self.ns)/nope").status == .notFound)
            #expect(try await c.send(.get, "\(Self.ns)/nope/objects").status == .notFound)
            #expect(try await c.send(.post, "\(Self.ns)/nope/tags/x").status == .notFound)
            try await Self.namespace(c, #"{"namespace": "here"}"#)
            let base = "\(Self.ns)/here"
            for path in ["objects/x", "properties/x", "tags/x"] {
                let r = try await c.send(.get, "\(base)/\(path)")
                #expect(r.status == .notFound, "\(path)")
                #expect(try await c.send(.delete, "\(base)/\(path)").status == .notFound, "\(path)")
            }
            #expect(try await c.send(.delete, "\(base)/resource_types/x").status == .notFound)
            #expect(try await c.send(.put, "\(base)/tags/x", json: #"{"name": "y"}"#).status == .notFound)
            #expect(try await c.send(.get, "\(Self.ns)?marker=nope").status == .notFound)
        }
    }

    @Test func visibility_privateNamespacesOnlyForTheirProject() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "alice-private", "owner": "proj-alice"}"#)
            try await Self.namespace(c, #"{"namespace": "bob-private", "owner": "proj-bob"}"#)
            try await Self.namespace(c, #"{"namespace": "bob-public", "owner": "proj-bob", "visibility": "public"}"#)
            try await Self.namespace(c, #"{"namespace": "admin-private"}"#)

            let aliceList = Self.names(try await c.send(.get, "\(Self.ns)?sort_key=namespace&sort_dir=asc", as: Who.alice))
            #expect(aliceList == ["alice-private", "bob-public"])
            #expect(Set(Self.names(try await c.send(.get, Self.ns))) == ["alice-private", "bob-private", "bob-public", "admin-private"])
            #expect(Self.names(try await c.send(.get, "\(Self.ns)?visibility=public", as: Who.alice)) == ["bob-public"])

            #expect(try await c.send(.get, "\(Self.ns)/alice-private", as: Who.alice).status == .ok)
            #expect(try await c.send(.get, "\(Self.ns)/bob-public", as: Who.aliceReader).status == .ok)
            #expect(try await c.send(.get, "\(Self.ns)/bob-private", as: Who.alice).status == .notFound)
            #expect(try await c.send(.get, "\(Self.ns)/bob-private/objects", as: Who.alice).status == .notFound)
            #expect(try await c.send(.get, "\(Self.ns)/bob-private/tags", as: Who.alice).status == .notFound)
            // A marker the caller may not see is refused.
            #expect(try await c.send(.get, "\(Self.ns)?marker=bob-private", as: Who.alice).status == .forbidden)
        }
    }

    @Test func policy_membersCannotWriteByDefault() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "mine", "owner": "proj-alice"}"#)
            try await Self.namespace(c, #"{"namespace": "theirs", "owner": "proj-bob"}"#)
            try await Self.namespace(c, #"{"namespace": "open", "owner": "proj-bob", "visibility": "public"}"#)
            let create = try await c.send(.post, Self.ns, json: #"{"namespace": "new"}"#, as: Who.alice)
            #expect(create.status == .forbidden)
            #expect(String(buffer: create.body).contains("add_metadef_namespace"))
            for name in ["mine", "open"] {
                let base = "\(Self.ns)/\(name)"
                #expect(try await c.send(.put, base, json: #"{"namespace": "\#(name)"}"#, as: Who.alice).status == .forbidden)
                #expect(try await c.send(.delete, base, as: Who.alice).status == .forbidden)
                #expect(try await c.send(.post, "\(base)/objects", json: #"{"name": "o"}"#, as: Who.alice).status == .forbidden)
                #expect(try await c.send(.post, "\(base)/tags/t", as: Who.alice).status == .forbidden)
                #expect(try await c.send(.post, "\(base)/resource_types", json: #"{"name": "R"}"#, as: Who.alice).status == .forbidden)
                #expect(try await c.send(.delete, "\(base)/tags", as: Who.alice).status == .forbidden)
            }
            // Someone else's private namespace stays hidden: 404, not 403.
            #expect(try await c.send(.put, "\(Self.ns)/theirs", json: #"{"namespace": "theirs"}"#, as: Who.alice).status == .notFound)
            #expect(try await c.send(.delete, "\(Self.ns)/theirs", as: Who.alice).status == .notFound)
            #expect(try await c.send(.post, "\(Self.ns)/theirs/objects", json: #"{"name": "o"}"#, as: Who.alice).status == .notFound)
            // Readers read.
            #expect(try await c.send(.get, "\(Self.ns)/mine/objects", as: Who.aliceReader).status == .ok)
            #expect(try await c.send(.get, "/v2/metadefs/resource_types", as: Who.aliceReader).status == .ok)
            // Without any role nothing is visible; Glance even answers the list with 404, since
            // the caller may not get a namespace of its own project either.
            let nobody = ["X-Project-Id": "proj-alice", "X-Roles": "observer"]
            #expect(try await c.send(.get, "\(Self.ns)/mine", as: nobody).status == .notFound)
            #expect(try await c.send(.get, Self.ns, as: nobody).status == .notFound)
        }
    }

    @Test func policyOverride_letsMembersWrite() async throws {
        let enforcer = try PolicyEnforcer(overrides: ["metadef_admin": "role:member"])
        let g = try await TestGlimpse.make(configure: { $0.policy = ImagePolicy(enforcer: enforcer) })
        try await g.test { (c) async throws in
            let r = try await c.send(.post, Self.ns, json: #"{"namespace": "by-alice"}"#, as: Who.alice)
            #expect(r.status == .created)
            #expect(r.json["owner"] == .string("proj-alice"))
        }
    }

    @Test func badInput_returnsBadRequestOrForbidden() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let bad = [
                #"{"namespace": "x", "visibility": "shared"}"#,
                #"{"display_name": "no namespace"}"#,
                #"{"namespace": "x", "unknown": 1}"#,
                #"{"namespace": "\#(String(repeating: "n", count: 81))"}"#,
                #"{"namespace": "x", "protected": "yes"}"#,
                #"{"namespace": "x", "properties": {"p": {"title": "P"}}}"#,
                #"{"namespace": "x", "properties": {"p": {"title": "P", "type": "string", "bogus": 1}}}"#,
                #"{"namespace": "x", "objects": [{"description": "no name"}]}"#,
                #"{"namespace": "x", "description": "😀"}"#,
            ]
            for json in bad {
                let r = try await c.send(.post, Self.ns, json: json)
                #expect(r.status == .badRequest, "\(json)")
            }
            let schema = try await c.send(.post, Self.ns, json: #"{"namespace": "x", "visibility": "shared"}"#,
                                          headers: ["Accept": "application/json"])
            #expect(schema.json["message"]?.stringValue?.hasPrefix(
                "Provided object does not match schema 'namespace': 'shared' is not one of ['public', 'private']") == true)
            #expect(try await c.send(.post, Self.ns).status == .badRequest)  // no body
            #expect(try await c.send(.post, Self.ns, json: "{").status == .badRequest)
            #expect(try await c.send(.post, Self.ns, json: #"{"namespace": "x", "self": "/v2"}"#).status == .forbidden)
            try await Self.namespace(c, #"{"namespace": "ok"}"#)
            let base = "\(Self.ns)/ok"
            #expect(try await c.send(.post, "\(base)/properties", json: #"{"title": "P", "type": "string"}"#).status == .badRequest)
            #expect(try await c.send(.post, "\(base)/properties", json: #"{"name": "p", "title": "P", "type": "strong"}"#).status == .badRequest)
            #expect(try await c.send(.post, "\(base)/properties", json: #"{"name": "p", "title": "P", "type": "string", "created_at": "x"}"#).status == .forbidden)
            #expect(try await c.send(.post, "\(base)/objects", json: #"{"name": "o", "properties": {"a": {"title": "A"}}}"#).status == .badRequest)
            #expect(try await c.send(.post, "\(base)/tags/\(String(repeating: "t", count: 81))").status == .badRequest)
            #expect(try await c.send(.post, "\(base)/tags", json: #"{"tags": [{"nom": "t"}]}"#).status == .badRequest)
            #expect(try await c.send(.post, "\(base)/resource_types", json: #"{"prefix": "p"}"#).status == .badRequest)
            for query in ["limit=x", "limit=-1", "sort_dir=up", "visibility=shared", "sort_key=bogus"] {
                #expect(try await c.send(.get, "\(Self.ns)?\(query)").status == .badRequest, "\(query)")
            }
            #expect(try await c.send(.get, "\(base)/objects?limit=0").status == .badRequest)
            #expect(try await c.send(.get, "\(base)/tags?sort_dir=sideways").status == .badRequest)
            let notAllowed = try await c.send(.patch, Self.ns, json: "{}")
            #expect(notAllowed.status == .methodNotAllowed)
            #expect(notAllowed.headers[.allow] == "GET, POST")
        }
    }

    @Test func protectedNamespace_refusesDeletes() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"""
                {"namespace": "keep", "protected": true, "resource_type_associations": [{"name": "R"}],
                 "objects": [{"name": "o"}], "properties": {"p": {"title": "P", "type": "string"}}, "tags": [{"name": "t"}]}
                """#)
            let base = "\(Self.ns)/keep"
            for path in ["", "/objects", "/properties", "/tags", "/objects/o", "/properties/p", "/tags/t", "/resource_types/R"] {
                #expect(try await c.send(.delete, base + path).status == .forbidden, "\(path)")
            }
            // Updates are allowed; unprotecting opens the door.
            let updated = try await c.send(.put, base, json: #"{"namespace": "keep", "description": "now open", "protected": false}"#)
            #expect(updated.status == .ok)
            #expect(updated.json["protected"] == .bool(false))
            #expect(updated.json["visibility"] == .string("private"))
            #expect(try await c.send(.delete, "\(base)/objects").status == .noContent)
            #expect(try await c.send(.get, "\(base)/objects").json["objects"] == .array([]))
            #expect(try await c.send(.delete, base).status == .noContent)
        }
    }

    @Test func renameViaPut_keepsChildren() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "before", "objects": [{"name": "o"}], "tags": [{"name": "t"}]}"#)
            let r = try await c.send(.put, "\(Self.ns)/before", json: #"{"namespace": "after", "display_name": "A"}"#)
            #expect(r.status == .ok)
            #expect(r.json["self"] == .string("/v2/metadefs/namespaces/after"))
            #expect(try await c.send(.get, "\(Self.ns)/before").status == .notFound)
            let after = try await c.send(.get, "\(Self.ns)/after")
            #expect(Self.names(after, "objects", field: "name") == ["o"])
            #expect(Self.names(after, "tags", field: "name") == ["t"])
        }
    }

    @Test func resourceTypePrefix_appliesToPropertyNames() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"""
                {"namespace": "hw", "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}, {"name": "OS::Nova::Flavor", "prefix": "hw:"}],
                 "properties": {"cpu_policy": {"title": "CPU policy", "type": "string", "enum": ["shared", "dedicated"]}},
                 "objects": [{"name": "o", "required": ["x"], "properties": {"x": {"title": "X", "type": "string"}}}]}
                """#)
            let image = try await c.send(.get, "\(Self.ns)/hw?resource_type=OS::Glance::Image")
            #expect(image.json["properties"]?.objectValue?.keys == ["hw_cpu_policy"])
            let object = try #require(image.json["objects"]?.arrayValue?.first?.objectValue)
            #expect(object["required"] == .array([.string("hw_x")]))
            #expect(object["properties"]?.objectValue?.keys == ["hw_x"])
            let flavor = try await c.send(.get, "\(Self.ns)/hw?resource_type=OS::Nova::Flavor")
            #expect(flavor.json["properties"]?.objectValue?.keys == ["hw:cpu_policy"])

            let property = try await c.send(.get, "\(Self.ns)/hw/properties/hw_cpu_policy?resource_type=OS::Glance::Image")
            #expect(property.status == .ok)
            #expect(property.json["name"] == .string("cpu_policy"))
            #expect(try await c.send(.get, "\(Self.ns)/hw/properties/cpu_policy?resource_type=OS::Glance::Image").status == .notFound)
            #expect(try await c.send(.get, "\(Self.ns)/hw/properties/hw_cpu_policy?resource_type=Nope").status == .notFound)

            let associations = try await c.send(.get, "\(Self.ns)/hw/resource_types")
            #expect(Self.names(associations, "resource_type_associations", field: "name") == ["OS::Glance::Image", "OS::Nova::Flavor"])
            #expect(Self.names(try await c.send(.get, "\(Self.ns)?resource_types=OS::Nova::Flavor")) == ["hw"])
            #expect(Self.names(try await c.send(.get, "\(Self.ns)?resource_types=Other")) == [])
            #expect(try await c.send(.delete, "\(Self.ns)/hw/resource_types/OS::Nova::Flavor").status == .noContent)
            #expect(Self.names(try await c.send(.get, "\(Self.ns)?resource_types=OS::Nova::Flavor")) == [])
        }
    }

    @Test func objectsAndProperties_updateReplacesTheDefinition() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "n"}"#)
            let base = "\(Self.ns)/n"
            let created = try await c.send(.post, "\(base)/objects", json: #"""
                {"name": "o", "description": "d", "required": ["a"],
                 "properties": {"a": {"title": "A", "type": "number", "minimum": 0.5, "maximum": 9.9, "readonly": true}}}
                """#)
            #expect(created.status == .created)
            // Glance's model keeps minimum and maximum as integers.
            let a = created.json["properties"]?.objectValue?["a"]?.objectValue
            #expect(a?["minimum"] == .int(0) && a?["maximum"] == .int(9))
            #expect(created.json["self"] == .string("/v2/metadefs/namespaces/n/objects/o"))

            let updated = try await c.send(.put, "\(base)/objects/o", json: #"{"name": "o2"}"#)
            #expect(updated.status == .ok)
            #expect(updated.json["description"] == nil && updated.json["required"] == nil)
            let shown = try await c.send(.get, "\(base)/objects/o2")
            #expect(shown.json["required"] == .array([]))
            #expect(shown.json["properties"] == .object(JSONObject()))

            let property = try await c.send(.post, "\(base)/properties", json: #"""
                {"name": "p", "title": "P", "type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": true}
                """#)
            #expect(property.status == .created)
            #expect(property.json.keys == ["name", "type", "title", "items", "uniqueItems"])
            let renamed = try await c.send(.put, "\(base)/properties/p", json: #"{"name": "q", "title": "Q", "type": "string"}"#)
            #expect(renamed.status == .ok)
            #expect(renamed.json == JSONObject([("name", .string("q")), ("type", .string("string")), ("title", .string("Q"))]))
            let all = try await c.send(.get, "\(base)/properties")
            #expect(all.json["properties"]?.objectValue?.keys == ["q"])
            #expect(try await c.send(.delete, "\(base)/properties/q").status == .noContent)
            #expect(try await c.send(.delete, "\(base)/properties").status == .noContent)
        }
    }

    @Test func tags_bulkReplaceAppendAndPaging() async throws {
        let g = try await TestGlimpse.make(clock: SteppingClock().now)
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"{"namespace": "n", "tags": [{"name": "old"}]}"#)
            let base = "\(Self.ns)/n/tags"
            let replaced = try await c.send(.post, base, json: #"{"tags": [{"name": "a"}, {"name": "b"}]}"#)
            #expect(replaced.status == .created)
            #expect(Self.names(replaced, "tags", field: "name") == ["a", "b"])
            #expect(Set(Self.names(try await c.send(.get, base), "tags", field: "name")) == ["a", "b"])
            let appended = try await c.send(.post, base, json: #"{"tags": [{"name": "c"}]}"#, headers: ["X-Openstack-Append": "True"])
            #expect(appended.status == .created)
            #expect(Self.names(try await c.send(.get, "\(base)?sort_key=name&sort_dir=asc"), "tags", field: "name") == ["a", "b", "c"])
            #expect(Self.names(try await c.send(.get, "\(base)?sort_key=name&sort_dir=asc&limit=2&marker=a"), "tags", field: "name") == ["b", "c"])
            #expect(Self.names(try await c.send(.get, base), "tags", field: "name") == ["c", "b", "a"])
            // An empty list changes nothing.
            #expect(try await c.send(.post, base, json: #"{"tags": []}"#).status == .created)
            #expect(Self.names(try await c.send(.get, base), "tags", field: "name").count == 3)

            let renamed = try await c.send(.put, "\(base)/a", json: #"{"name": "z"}"#)
            #expect(renamed.status == .ok)
            #expect(renamed.json["name"] == .string("z"))
            let shown = try await c.send(.get, "\(base)/z")
            #expect(shown.json.keys == ["name", "created_at", "updated_at"])
            #expect(try await c.send(.delete, "\(base)/z").status == .noContent)
            #expect(try await c.send(.delete, base).status == .noContent)
            #expect(try await c.send(.get, base).json["tags"] == .array([]))
        }
    }

    @Test func namespaceList_pagesWithMarkerAndLinks() async throws {
        let g = try await TestGlimpse.make(clock: SteppingClock().now)
        try await g.test { (c) async throws in
            for i in 1...5 {
                try await Self.namespace(c, #"{"namespace": "ns\#(i)", "resource_type_associations": [{"name": "A::B"}]}"#)
            }
            let first = try await c.send(.get, "\(Self.ns)?limit=2&resource_types=A::B")
            #expect(Self.names(first) == ["ns5", "ns4"])
            #expect(first.json["first"] == .string("/v2/metadefs/namespaces?limit=2&resource_types=A%3A%3AB"))
            let next = try #require(first.json["next"]?.stringValue)
            #expect(next == "/v2/metadefs/namespaces?limit=2&resource_types=A%3A%3AB&marker=ns4")
            let second = try await c.send(.get, next)
            #expect(Self.names(second) == ["ns3", "ns2"])
            let third = try await c.send(.get, try #require(second.json["next"]?.stringValue))
            #expect(Self.names(third) == ["ns1"])
            #expect(third.json["next"] == nil)
            let ascending = try await c.send(.get, "\(Self.ns)?sort_key=namespace&sort_dir=asc&marker=ns2")
            #expect(Self.names(ascending) == ["ns3", "ns4", "ns5"])
            #expect(Self.names(try await c.send(.get, "\(Self.ns)?limit=0")) == [])
        }
    }

    @Test func schemas_areGlances() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            let expected = [
                "namespace": "namespace", "namespaces": "namespaces", "resource_type": "resource_type_association",
                "resource_types": "resource_type_associations", "object": "object", "objects": "objects",
                "property": "property", "properties": "properties", "tag": "tag", "tags": "tags",
            ]
            for (path, name) in expected {
                let r = try await c.send(.get, "/v2/schemas/metadefs/\(path)", as: Who.aliceReader)
                #expect(r.status == .ok, "\(path)")
                #expect(r.json["name"] == .string(name), "\(path)")
            }
            let namespace = try await c.send(.get, "/v2/schemas/metadefs/namespace")
            #expect(namespace.json["required"] == .array([.string("namespace")]))
            #expect(namespace.json["additionalProperties"] == .bool(false))
            let properties = try await c.send(.get, "/v2/schemas/metadefs/properties")
            let item = properties.json["properties"]?.objectValue?["properties"]?.objectValue?["additionalProperties"]?.objectValue
            #expect(item?["required"] == .array([.string("type"), .string("title")]))
            #expect(try await c.send(.post, "/v2/schemas/metadefs/tag", json: "{}").status == .methodNotAllowed)
        }
    }

    @Test func storedRows_matchGlancesEncoding() async throws {
        let g = try await TestGlimpse.make()
        try await g.test { (c) async throws in
            try await Self.namespace(c, #"""
                {"namespace": "n", "objects": [{"name": "o", "required": ["a", "b"], "properties": {"a": {"title": "A", "type": "string"}}}],
                 "properties": {"p": {"title": "P", "type": "integer", "default": 3}}}
                """#)
            let object = try #require(try await g.executor.query("SELECT required, json_schema FROM metadef_objects", []).first)
            #expect(object["required"].string == "a,b")
            #expect(object["json_schema"].string == #"{"a": {"type": "string", "title": "A"}}"#)
            let property = try #require(try await g.executor.query("SELECT json_schema FROM metadef_properties", []).first)
            #expect(property["json_schema"].string == #"{"type": "integer", "title": "P", "default": "3"}"#)
            let namespace = try #require(try await g.executor.query("SELECT visibility, protected, owner FROM metadef_namespaces", []).first)
            #expect(namespace["visibility"].string == "private" && !namespace["protected"].bool && namespace["owner"].string == "admin")
        }
    }
}

/// JSON-schema checks worded as python-jsonschema words them.
@Suite struct JSONSchemaValidatorTests {
    @Test func messages() throws {
        let v = JSONSchemaValidator(schema: MetadefSchemas.namespace)
        func error(_ json: String) throws -> String? { v.firstError(in: try JSONValue.parse(Array(json.utf8))) }
        #expect(try error(#"{"namespace": "x"}"#) == nil)
        #expect(try error(#"{}"#) == "'namespace' is a required property")
        #expect(try error(#"{"namespace": "x", "b": 1, "a": 2}"#) == "Additional properties are not allowed ('a', 'b' were unexpected)")
        #expect(try error(#"{"namespace": 1}"#) == "1 is not of type 'string'")
        #expect(try error(#"{"namespace": "x", "protected": null}"#) == "None is not of type 'boolean'")
        #expect(try error(#"{"namespace": "x", "properties": {"p": {"title": "T", "type": "string", "minLength": -1}}}"#)
            == "-1 is less than the minimum of 0")
        #expect(try error(#"{"namespace": "x", "properties": {"p": {"title": "T", "type": "string", "maxItems": 2.0}}}"#) == nil)
        #expect(try error(#"{"namespace": "x", "objects": [{"name": "o", "required": ["a", "a"]}]}"#)
            == "['a', 'a'] has non-unique elements")
        #expect(try error(#"{"namespace": "\#(String(repeating: "x", count: 81))"}"#)?.hasSuffix("is too long") == true)
    }

    @Test func propertyTypeNormalisation() throws {
        let definition = try #require(try JSONValue.parse(Array(#"""
            {"maximum": 7.9, "title": "T", "default": true, "type": "integer", "readonly": "yes", "name": "n"}
            """#.utf8)).objectValue)
        let normal = try MetadefPropertyType.normalize(definition, label: "n")
        #expect(normal.keys == ["name", "type", "title", "default", "readonly", "maximum"])
        #expect(normal["default"] == .string("True") && normal["readonly"] == .bool(true) && normal["maximum"] == .int(7))
        #expect(throws: GlimpseError.self) { try MetadefPropertyType.normalize(JSONObject([("title", .string("t"))]), label: "x") }
    }
}

/// `glimpse db load-metadefs`, Glance's definition files into the catalog.
@Suite struct MetadefLoaderTests {
    @Test func loadsFilesLikeGlanceManage_andSkipsExistingNamespaces() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metadefs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try #"""
            {"namespace": "OS::Compute::Demo", "display_name": "Demo", "visibility": "public", "protected": true,
             "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"}, {"name": "OS::Glance::Image", "prefix": "hw_"}],
             "properties": {"cpu": {"title": "CPU", "type": "integer", "default": 2}},
             "objects": [{"name": "Obj", "required": ["x"], "properties": {"x": {"title": "X", "type": "string"}}}],
             "tags": [{"name": "tag"}]}
            """#.write(to: dir.appendingPathComponent("demo.json"), atomically: true, encoding: .utf8)
        try "not json".write(to: dir.appendingPathComponent("broken.json"), atomically: true, encoding: .utf8)
        try "ignored".write(to: dir.appendingPathComponent("README"), atomically: true, encoding: .utf8)

        let g = try await TestGlimpse.make()
        let loader = MetadefLoader(catalog: g.catalog)
        let report = try await loader.load(path: dir.path)
        #expect(report.loaded == ["demo.json"])
        #expect(report.failed.map(\.0) == ["broken.json"])
        #expect(try await loader.load(path: dir.path).skipped == ["demo.json"])

        try await g.test { (c) async throws in
            let shown = try await c.send(.get, "/v2/metadefs/namespaces/OS::Compute::Demo", as: Who.aliceReader)
            #expect(shown.status == .ok)
            #expect(shown.json["owner"] == .string("admin"))
            #expect(shown.json["updated_at"] == nil)
            #expect(shown.json["properties"]?.objectValue?["cpu"]?.objectValue?["default"] == .string("2"))
            // Glance's loader does not store an object's `required`.
            #expect(shown.json["objects"]?.arrayValue?.first?.objectValue?["required"] == .array([]))
            let associations = try await c.send(.get, "/v2/metadefs/namespaces/OS::Compute::Demo/resource_types")
            #expect(MetadefAPITests.names(associations, "resource_type_associations", field: "name") == ["OS::Nova::Flavor", "OS::Glance::Image"])
            let types = try await g.executor.query("SELECT name, protected FROM metadef_resource_types ORDER BY id", [])
            #expect(types.map { $0["protected"].bool } == [true, true])
            // Seeded data is protected like any other.
            #expect(try await c.send(.delete, "/v2/metadefs/namespaces/OS::Compute::Demo").status == .forbidden)
        }
    }
}
