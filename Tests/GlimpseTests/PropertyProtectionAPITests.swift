import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpsePolicy
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Property protections applied through the API (v2 create, patch add/replace/remove, reads; v1 headers).
@Suite struct PropertyProtectionAPITests {
    static let ini = """
    [^x_billing_.*]
    create = admin
    read = admin,member
    update = admin
    delete = admin

    [^x_secret$]
    create = admin
    read = admin
    update = admin
    delete = admin

    [.*]
    create = @
    read = @
    update = @
    delete = @
    """

    @Test func protectionsGovernEveryOperation() async throws {
        let protections = try PropertyProtections(iniText: Self.ini, format: .roles, enforcer: ImagePolicy.glanceDefaults)
        let g = try await TestGlimpse.make(configure: { (c) in c.propertyProtections = protections })
        try await g.test { (c) async throws in
            // A member may not create a billing property; an admin may.
            let refused = try await c.send(.post, "/v2/images", json: #"{"name": "a", "x_billing_code": "42"}"#, as: Who.alice)
            #expect(refused.status == .forbidden)
            let id = try await c.create(#"{"name": "b", "x_billing_code": "42", "x_secret": "s", "free": "1"}"#,
                                        as: ["X-Project-Id": "proj-alice", "X-Roles": "admin,member,reader"])
            // The member reads billing but not the secret.
            let shown = try await c.send(.get, "/v2/images/\(id)", as: Who.alice).json
            #expect(shown["x_billing_code"] == .string("42"))
            #expect(shown["x_secret"] == nil)
            #expect(shown["free"] == .string("1"))
            // The member may not update or remove billing, but may change unprotected properties.
            #expect(try await c.patch(id, #"[{"op": "replace", "path": "/x_billing_code", "value": "43"}]"#, as: Who.alice).status == .forbidden)
            #expect(try await c.patch(id, #"[{"op": "remove", "path": "/x_billing_code"}]"#, as: Who.alice).status == .forbidden)
            #expect(try await c.patch(id, #"[{"op": "replace", "path": "/free", "value": "2"}]"#, as: Who.alice).status == .ok)
            // The secret it cannot read is kept through its update, and it cannot touch it.
            #expect(try await c.patch(id, #"[{"op": "remove", "path": "/x_secret"}]"#, as: Who.alice).status == .forbidden)
            let stored = try #require(try await g.catalog.image(id: id))
            #expect(stored.properties["x_secret"] == "s" && stored.properties["x_billing_code"] == "42" && stored.properties["free"] == "2")
            // v1 headers go through the same rules.
            let v1 = try await c.send(.put, "/v1/images/\(id)", as: Who.alice, headers: ["x-image-meta-property-x_billing_code": "9"])
            #expect(v1.status == .forbidden)
        }
    }
}
