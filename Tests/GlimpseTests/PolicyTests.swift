import Foundation
import GlimpseDomain
@testable import GlimpsePolicy
import Testing

// MARK: - The rule language

@Suite struct PolicyRuleLanguageTests {
    let enforcer: PolicyEnforcer
    let admin = Principal(projectID: "A", userID: "u1", roles: ["admin"])
    let reader = Principal(projectID: "A", userID: "u2", roles: ["reader"])

    init() throws {
        enforcer = try PolicyEnforcer(ruleStrings: ["default": "!", "context_is_admin": "role:admin"])
    }

    /// Evaluates `rule` as a one-off check string.
    func eval(_ rule: String, _ target: [String: String] = [:], _ principal: Principal? = nil) throws -> Bool {
        let check = try PolicyParser.parse(rule)
        return enforcer.evaluate(check, target: target, credentials: enforcer.credentials(for: principal ?? reader))
    }

    @Test func constants() throws {
        #expect(try PolicyParser.parse("") == .always)
        #expect(try PolicyParser.parse("@") == .always)
        #expect(try PolicyParser.parse("!") == .never)
        #expect(try eval("") == true)
        #expect(try eval("@") == true)
        #expect(try eval("!") == false)
    }

    @Test func operators() throws {
        #expect(try eval("@ and @") == true)
        #expect(try eval("@ and !") == false)
        #expect(try eval("! or @") == true)
        #expect(try eval("! or !") == false)
        #expect(try eval("not !") == true)
        #expect(try eval("not @") == false)
        #expect(try eval("not not @") == true)
        #expect(try eval("@ and @ and !") == false)
        #expect(try eval("! or ! or @") == true)
        // Keywords are case-insensitive.
        #expect(try eval("@ AND !") == false)
        #expect(try eval("! Or @") == true)
        #expect(try eval("NOT !") == true)
    }

    @Test func precedenceIsNotThenAndThenOr() throws {
        // and binds tighter than or: @ or (! and !)
        #expect(try eval("@ or ! and !") == true)
        #expect(try eval("! and ! or @") == true)
        // not binds tighter than or and and: (not @) or @, (not !) and !
        #expect(try eval("not @ or @") == true)
        #expect(try eval("not ! and !") == false)
        #expect(try eval("@ or not @ and !") == true)
        #expect(
            try PolicyParser.parse("a:1 or b:2 and c:3")
                == .or([
                    .match(.credential(["a"]), try PolicyTemplate(parsing: "1")),
                    .and([
                        .match(.credential(["b"]), try PolicyTemplate(parsing: "2")),
                        .match(.credential(["c"]), try PolicyTemplate(parsing: "3")),
                    ]),
                ])
        )
        #expect(try PolicyParser.parse("not a:1 and b:2").description == "(not a:1 and b:2)")
    }

    @Test func parentheses() throws {
        #expect(try eval("(@ or !) and !") == false)
        #expect(try eval("@ or (! and !)") == true)
        #expect(try eval("not (@ and !)") == true)
        #expect(try eval("((@))") == true)
        #expect(try eval("( @ or ! ) and ( not ! )") == true)
        #expect(try eval("! or not (! or !)") == true)
        #expect(
            try PolicyParser.parse("rule:context_is_admin or (role:member and project_id:%(project_id)s)").description
                == "(rule:context_is_admin or (role:member and project_id:%(project_id)s))"
        )
    }

    @Test func roleChecksIgnoreCase() throws {
        #expect(try eval("role:reader") == true)
        #expect(try eval("role:READER") == true)
        #expect(try eval("role:member") == false)
        #expect(try eval("role:Admin", [:], Principal(projectID: "A", userID: nil, roles: ["ADMIN"])) == true)
        // role:%(key)s substitutes from the target; a missing key is false.
        #expect(try eval("role:%(needed)s", ["needed": "Reader"]) == true)
        #expect(try eval("role:%(needed)s") == false)
    }

    @Test func genericChecksCompareCredentials() throws {
        #expect(try eval("project_id:%(project_id)s", ["project_id": "A"]) == true)
        #expect(try eval("project_id:%(project_id)s", ["project_id": "B"]) == false)
        #expect(try eval("project_id:%(project_id)s") == false, "missing target key")
        #expect(try eval("user_id:%(user_id)s", ["user_id": "u2"]) == true)
        #expect(try eval("project_id:A") == true)
        #expect(try eval("project_id:a") == false, "generic checks are case-sensitive")
        #expect(try eval("project_id:%(owner)s and user_id:%(user)s", ["owner": "A", "user": "u2"]) == true)
        // A credential the caller does not have never matches.
        let anonymous = Principal(projectID: nil, userID: nil, roles: [])
        #expect(try eval("project_id:%(project_id)s", ["project_id": "None"], anonymous) == false)
        #expect(try eval("domain_id:%(domain_id)s", ["domain_id": "d"]) == false)
        // `roles` is a list: any element may match (case-sensitively, unlike role:).
        #expect(try eval("roles:reader") == true)
        #expect(try eval("roles:Reader") == false)
    }

    @Test func isAdminComesFromContextIsAdmin() throws {
        #expect(try eval("is_admin:True", [:], admin) == true)
        #expect(try eval("is_admin:True", [:], reader) == false)
        #expect(try eval("is_admin:False", [:], reader) == true)
        #expect(try eval("is_admin:true", [:], admin) == false, "Python prints True")
        let custom = try PolicyEnforcer(overrides: ["context_is_admin": "role:superuser"])
        #expect(custom.credentials(for: admin).values["is_admin"] == .string("False"))
        let superuser = Principal(projectID: "A", userID: nil, roles: ["superuser"])
        #expect(custom.credentials(for: superuser).values["is_admin"] == .string("True"))
        // is_admin:True inside context_is_admin itself is evaluated with is_admin still false.
        let circular = try PolicyEnforcer(overrides: ["context_is_admin": "is_admin:True or role:admin"])
        #expect(circular.credentials(for: admin).values["is_admin"] == .string("True"))
        #expect(circular.credentials(for: reader).values["is_admin"] == .string("False"))
    }

    /// Glance's rules are project-scoped and oslo.policy enforces scope: a system-scoped admin
    /// token (no project) is refused everything, even the always-true rules.
    @Test func systemScopedTokensAreRefusedEveryRule() throws {
        let glance = try PolicyEnforcer(overrides: [:])
        let systemAdmin = Principal(projectID: nil, userID: "u", roles: ["admin"], outOfProjectScope: true)
        for rule in ["add_image", "get_images", "get_image", "context_is_admin", "default"] {
            #expect(!glance.enforce(rule, target: [:], principal: systemAdmin), "\(rule)")
        }
        let projectAdmin = Principal(projectID: "p", userID: "u", roles: ["admin"])
        #expect(glance.enforce("add_image", target: ["project_id": "p", "owner": "p"], principal: projectAdmin))
    }

    @Test func dottedCredentialPaths() throws {
        let credentials = PolicyCredentials(values: [
            "token": .dict(["user": .dict(["id": .string("u9")]), "roles": .list([.dict(["name": .string("x")])])])
        ])
        func run(_ rule: String, _ target: [String: String] = [:]) throws -> Bool {
            enforcer.evaluate(try PolicyParser.parse(rule), target: target, credentials: credentials)
        }
        #expect(try run("token.user.id:u9") == true)
        #expect(try run("token.user.id:%(uid)s", ["uid": "u9"]) == true)
        #expect(try run("token.user.id:u8") == false)
        #expect(try run("token.user.name:u9") == false)
        #expect(try run("token.roles.name:x") == true, "lists are searched element by element")
        #expect(try run("token.user:u9") == false, "a mapping is not a string")
    }

    @Test func literalsAndQuoting() throws {
        #expect(try eval("'public':%(visibility)s", ["visibility": "public"]) == true)
        #expect(try eval("'public':%(visibility)s", ["visibility": "private"]) == false)
        #expect(try eval("\"shared\":%(visibility)s", ["visibility": "shared"]) == true)
        #expect(try eval("'public':%(visibility)s", [:]) == false)
        #expect(try eval("True:%(enabled)s", ["enabled": "True"]) == true)
        #expect(try eval("False:%(enabled)s", ["enabled": "True"]) == false)
        #expect(try eval("42:%(n)s", ["n": "42"]) == true)
        #expect(try eval("0x10:%(n)s", ["n": "16"]) == true)
        #expect(try eval("-7:%(n)s", ["n": "-7"]) == true)
        #expect(try eval("1.50:%(n)s", ["n": "1.5"]) == true)
        #expect(try PolicyParser.subject("'a\\'b'") == .literal("a'b", source: "'a\\'b'"))
        // %% is a literal percent sign; the value after the first colon may contain colons.
        #expect(try eval("'50%':50%%") == true)
        #expect(try eval("'a':a:b") == false)
        #expect(try eval("'a':a") == true)
        #expect(try eval("role:admin", [:], admin) == true)
        #expect(
            try PolicyParser.parse("role:compute:admin")
                == .role(try PolicyTemplate(parsing: "compute:admin"))
        )
    }

    @Test func ruleReferences() throws {
        let rules = try PolicyEnforcer(ruleStrings: [
            "default": "!",
            "context_is_admin": "role:admin",
            "readers": "role:reader",
            "uses_readers": "rule:readers and project_id:%(project_id)s",
            "uses_missing": "rule:no_such_rule or rule:readers",
            "only_missing": "rule:no_such_rule",
            "negated_missing": "not rule:no_such_rule",
        ])
        #expect(rules.enforce("uses_readers", target: ["project_id": "A"], principal: reader) == true)
        #expect(rules.enforce("uses_readers", target: ["project_id": "B"], principal: reader) == false)
        #expect(rules.enforce("uses_missing", target: [:], principal: reader) == true)
        #expect(rules.enforce("only_missing", target: [:], principal: admin) == false)
        #expect(rules.enforce("negated_missing", target: [:], principal: reader) == true)
        #expect(rules.undefinedReferences == ["uses_missing": ["no_such_rule"], "only_missing": ["no_such_rule"], "negated_missing": ["no_such_rule"]])
    }

    @Test func undefinedRuleNamesUseTheDefaultRule() throws {
        let open = try PolicyEnforcer()
        #expect(open.enforce("not_a_glance_rule", target: [:], principal: reader) == true, "Glance's default is \"\"")
        let closed = try PolicyEnforcer(overrides: ["default": "role:admin"])
        #expect(closed.enforce("not_a_glance_rule", target: [:], principal: reader) == false)
        #expect(closed.enforce("not_a_glance_rule", target: [:], principal: admin) == true)
        let none = try PolicyEnforcer(ruleStrings: ["context_is_admin": "role:admin"])
        #expect(none.enforce("not_a_glance_rule", target: [:], principal: admin) == false)
    }

    @Test(arguments: [
        "role:admin and",
        "or role:admin",
        "role:admin or or role:member",
        "(role:admin",
        "role:admin)",
        "()",
        "role:admin role:member",
        "not",
        "admin",
        "'quoted'",
        "(\"quoted\")",
        "   ",
        "http://policy.example.com/check",
        "https:x",
        "rule:",
        ":value",
        "project_id:%(project_id)d",
        "project_id:50%",
        "'unterminated:x",
        "1abc:x",
    ])
    func badSyntaxIsRefused(_ rule: String) {
        #expect(throws: PolicyError.self) { try PolicyParser.parse(rule) }
    }

    @Test func badRuleNamesTheRuleWhenLoading() {
        do {
            _ = try PolicyEnforcer(overrides: ["get_image": "role:admin and"])
            Issue.record("expected an error")
        } catch let error as PolicyError {
            #expect(error.message.contains("\"get_image\""))
            #expect(error.message.contains("role:admin and"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func cyclesAreRefused() {
        do {
            _ = try PolicyEnforcer(overrides: ["a": "rule:b", "b": "role:x or rule:a"])
            Issue.record("expected an error")
        } catch let error as PolicyError {
            #expect(error.message.contains("a -> b -> a"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: PolicyError.self) { try PolicyEnforcer(overrides: ["self": "rule:self"]) }
    }
}

// MARK: - Glance's defaults

@Suite struct GlanceDefaultPolicyTests {
    enum Persona: String, CaseIterable {
        case adminA, memberA, readerA, memberB, readerB, service, nobody

        var principal: Principal {
            switch self {
            case .adminA: Principal(projectID: "A", userID: "admin-a", roles: ["admin"])
            case .memberA: Principal(projectID: "A", userID: "member-a", roles: ["member"])
            case .readerA: Principal(projectID: "A", userID: "reader-a", roles: ["reader"])
            case .memberB: Principal(projectID: "B", userID: "member-b", roles: ["member"])
            case .readerB: Principal(projectID: "B", userID: "reader-b", roles: ["reader"])
            case .service: Principal(projectID: "S", userID: "nova", roles: ["service"])
            case .nobody: Principal(projectID: "A", userID: "nobody-a", roles: [])
            }
        }
    }

    /// Column order of the image table.
    static let images: [(name: String, image: Image, members: Set<String>)] = [
        ("private image of A", Image(id: "i1", visibility: .private, owner: "A", createdAt: Date()), []),
        ("public image of B", Image(id: "i2", visibility: .public, owner: "B", createdAt: Date()), []),
        ("shared image of B, A a member", Image(id: "i3", visibility: .shared, owner: "B", createdAt: Date()), ["A"]),
        ("community image of B", Image(id: "i4", visibility: .community, owner: "B", createdAt: Date()), []),
    ]

    /// Glance's `ImageTarget`: `member_id` is the caller's project when it reaches a shared
    /// image it does not own through membership.
    static func target(_ column: Int, for persona: Persona) -> PolicyTarget.ImageValues {
        let (_, image, members) = images[column]
        let project = persona.principal.projectID
        let reachedAsMember = image.visibility == .shared && project != image.owner && members.contains(project ?? "")
        return PolicyTarget.image(image, memberID: reachedAsMember ? project : nil)
    }

    // Expected results, derived by hand from Glance 33's check strings. One string per persona,
    // one letter per image column: private A, public B, shared B (A member), community B.
    static let adminOnly: [Persona: String] = [
        .adminA: "YYYY", .memberA: "NNNN", .readerA: "NNNN", .memberB: "NNNN", .readerB: "NNNN", .service: "NNNN", .nobody: "NNNN",
    ]
    static let everyone: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YYYY", .readerA: "YYYY", .memberB: "YYYY", .readerB: "YYYY", .service: "YYYY", .nobody: "YYYY",
    ]
    static let adminOrService: [Persona: String] = [
        .adminA: "YYYY", .memberA: "NNNN", .readerA: "NNNN", .memberB: "NNNN", .readerB: "NNNN", .service: "YYYY", .nobody: "NNNN",
    ]
    /// rule:context_is_admin or (role:member and project_id:%(project_id)s)
    static let ownerMember: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YNNN", .readerA: "NNNN", .memberB: "NYYY", .readerB: "NNNN", .service: "NNNN", .nobody: "NNNN",
    ]
    /// rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)
    static let serviceOrOwnerMember: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YNNN", .readerA: "NNNN", .memberB: "NYYY", .readerB: "NNNN", .service: "YYYY", .nobody: "NNNN",
    ]
    /// rule:context_is_admin or (role:reader and project_id:%(project_id)s)
    static let ownerReader: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YNNN", .readerA: "YNNN", .memberB: "NYYY", .readerB: "NYYY", .service: "NNNN", .nobody: "NNNN",
    ]
    /// admin, or reader of the owner / image member / community / public / shared.
    static let getImage: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YYYY", .readerA: "YYYY", .memberB: "NYYY", .readerB: "NYYY", .service: "NNNN", .nobody: "NNNN",
    ]
    /// admin, or member of the owner / image member / community / public / shared.
    static let download: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YYYY", .readerA: "NNNN", .memberB: "NYYY", .readerB: "NNNN", .service: "NNNN", .nobody: "NNNN",
    ]
    /// rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)
    static let getMember: [Persona: String] = [
        .adminA: "YYYY", .memberA: "YNYN", .readerA: "YNYN", .memberB: "NYYY", .readerB: "NYYY", .service: "NNNN", .nobody: "NNNN",
    ]
    /// rule:context_is_admin or (role:member and project_id:%(member_id)s)
    static let modifyMember: [Persona: String] = [
        .adminA: "YYYY", .memberA: "NNYN", .readerA: "NNNN", .memberB: "NNNN", .readerB: "NNNN", .service: "NNNN", .nobody: "NNNN",
    ]

    static let imageTable: [String: [Persona: String]] = [
        "default": everyone,
        "context_is_admin": adminOnly,
        "service_api": adminOrService,
        "add_image": ownerMember,
        "delete_image": ownerMember,
        "get_image": getImage,
        "get_images": ownerReader,
        "modify_image": ownerMember,
        "publicize_image": adminOnly,
        "communitize_image": ownerMember,
        "download_image": download,
        "download_from_store": download,
        "upload_image": ownerMember,
        "delete_image_location": adminOnly,
        "get_image_location": ownerReader,
        "set_image_location": ownerMember,
        "add_image_location": serviceOrOwnerMember,
        "fetch_image_location": adminOrService,
        "add_member": ownerMember,
        "delete_member": ownerMember,
        "get_member": getMember,
        "get_members": getMember,
        "modify_member": modifyMember,
        "manage_image_cache": adminOnly,
        "deactivate": ownerMember,
        "reactivate": ownerMember,
        "copy_image": adminOnly,
        "list_cached_nodes": adminOnly,
        "get_task": everyone,
        "get_tasks": everyone,
        "add_task": everyone,
        "modify_task": everyone,
        "tasks_api_access": adminOnly,
        "cache_image": adminOnly,
        "cache_list": adminOnly,
        "cache_delete": adminOnly,
        "cache_clean": adminOnly,
        "cache_prune": adminOnly,
        "stores_info_detail": adminOrService,
    ]

    /// Metadef namespaces: a private one owned by A, a public one owned by B.
    static let namespaces: [[String: String]] = [
        PolicyTarget.namespace(owner: "A", visibility: "private"),
        PolicyTarget.namespace(owner: "B", visibility: "public"),
    ]
    /// rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))
    static let namespaceRead: [Persona: String] = [
        .adminA: "YY", .memberA: "YY", .readerA: "YY", .memberB: "NY", .readerB: "NY", .service: "NN", .nobody: "NN",
    ]
    static let namespaceList: [Persona: String] = [
        .adminA: "YY", .memberA: "YN", .readerA: "YN", .memberB: "NY", .readerB: "NY", .service: "NN", .nobody: "NN",
    ]
    static let namespaceAdmin: [Persona: String] = [
        .adminA: "YY", .memberA: "NN", .readerA: "NN", .memberB: "NN", .readerB: "NN", .service: "NN", .nobody: "NN",
    ]
    static let namespaceEveryone: [Persona: String] = [
        .adminA: "YY", .memberA: "YY", .readerA: "YY", .memberB: "YY", .readerB: "YY", .service: "YY", .nobody: "YY",
    ]

    static let namespaceTable: [String: [Persona: String]] = [
        "metadef_default": namespaceEveryone,
        "metadef_admin": namespaceAdmin,
        "get_metadef_namespace": namespaceRead,
        "get_metadef_namespaces": namespaceList,
        "modify_metadef_namespace": namespaceAdmin,
        "add_metadef_namespace": namespaceAdmin,
        "delete_metadef_namespace": namespaceAdmin,
        "get_metadef_object": namespaceRead,
        "get_metadef_objects": namespaceRead,
        "modify_metadef_object": namespaceAdmin,
        "add_metadef_object": namespaceAdmin,
        "delete_metadef_object": namespaceAdmin,
        "list_metadef_resource_types": namespaceRead,
        "get_metadef_resource_type": namespaceRead,
        "add_metadef_resource_type_association": namespaceAdmin,
        "remove_metadef_resource_type_association": namespaceAdmin,
        "get_metadef_property": namespaceRead,
        "get_metadef_properties": namespaceRead,
        "modify_metadef_property": namespaceAdmin,
        "add_metadef_property": namespaceAdmin,
        "remove_metadef_property": namespaceAdmin,
        "get_metadef_tag": namespaceRead,
        "get_metadef_tags": namespaceRead,
        "modify_metadef_tag": namespaceAdmin,
        "add_metadef_tag": namespaceAdmin,
        "add_metadef_tags": namespaceAdmin,
        "delete_metadef_tag": namespaceAdmin,
        "delete_metadef_tags": namespaceAdmin,
    ]

    @Test func tablesCoverEveryDefaultRule() {
        #expect(GlanceDefaultPolicy.rules.count == 67)
        let covered = Set(Self.imageTable.keys).union(Self.namespaceTable.keys)
        #expect(covered == Set(GlanceDefaultPolicy.rules.keys))
        #expect(Set(Self.imageTable.keys).isDisjoint(with: Self.namespaceTable.keys))
    }

    @Test func everyDefaultParses() throws {
        let enforcer = try PolicyEnforcer()
        #expect(enforcer.rules.count == 67)
        #expect(enforcer.undefinedReferences.isEmpty)
    }

    @Test(arguments: GlanceDefaultPolicyTests.imageTable.keys.sorted())
    func imageRule(_ rule: String) throws {
        let enforcer = try PolicyEnforcer()
        let table = try #require(Self.imageTable[rule])
        for persona in Persona.allCases {
            let expected = Array(try #require(table[persona]))
            #expect(expected.count == Self.images.count)
            for column in Self.images.indices {
                let allowed = enforcer.enforce(rule, target: Self.target(column, for: persona), principal: persona.principal)
                #expect(allowed == (expected[column] == "Y"), "\(rule) for \(persona.rawValue) on \(Self.images[column].name)")
            }
        }
    }

    @Test(arguments: GlanceDefaultPolicyTests.namespaceTable.keys.sorted())
    func metadefRule(_ rule: String) throws {
        let enforcer = try PolicyEnforcer()
        let table = try #require(Self.namespaceTable[rule])
        for persona in Persona.allCases {
            let expected = Array(try #require(table[persona]))
            #expect(expected.count == Self.namespaces.count)
            for column in Self.namespaces.indices {
                let allowed = enforcer.enforce(rule, target: Self.namespaces[column], principal: persona.principal)
                #expect(allowed == (expected[column] == "Y"), "\(rule) for \(persona.rawValue) on namespace \(column)")
            }
        }
    }

    @Test func collectionAndCreateTargets() throws {
        let enforcer = try PolicyEnforcer()
        // get_images is checked with {"project_id": <caller's project>}.
        let getImages: [Persona: Bool] = [
            .adminA: true, .memberA: true, .readerA: true, .memberB: true, .readerB: true, .service: false, .nobody: false,
        ]
        // add_image with no owner given: the caller's own project.
        let addOwn: [Persona: Bool] = [
            .adminA: true, .memberA: true, .readerA: false, .memberB: true, .readerB: false, .service: false, .nobody: false,
        ]
        // add_image with owner B: only admin and B's member.
        let addForB: [Persona: Bool] = [
            .adminA: true, .memberA: false, .readerA: false, .memberB: true, .readerB: false, .service: false, .nobody: false,
        ]
        for persona in Persona.allCases {
            let p = persona.principal
            #expect(enforcer.enforce("get_images", target: PolicyTarget.project(of: p), principal: p) == getImages[persona], "\(persona)")
            let own = PolicyTarget.newImage(owner: nil, visibility: nil, principal: p)
            #expect(enforcer.enforce("add_image", target: own, principal: p) == addOwn[persona], "\(persona)")
            let forB = PolicyTarget.newImage(owner: "B", visibility: .shared, principal: p)
            #expect(enforcer.enforce("add_image", target: forB, principal: p) == addForB[persona], "\(persona)")
        }
        #expect(PolicyTarget.newImage(owner: nil, visibility: nil, principal: Persona.memberA.principal)
            == ["project_id": "A", "owner": "A", "visibility": "private"])
    }

    @Test func checkStringsAreGlances() {
        let rules = GlanceDefaultPolicy.rules
        #expect(rules["get_image"] == "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))")
        #expect(rules["add_image"] == "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)")
        #expect(rules["get_members"] == "rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)")
        #expect(rules["modify_member"] == "rule:context_is_admin or (role:member and project_id:%(member_id)s)")
        #expect(rules["add_image_location"] == "rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)")
        #expect(rules["get_metadef_namespace"] == "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))")
        #expect(rules["stores_info_detail"] == "rule:context_is_admin or rule:service_api")
        #expect(rules["service_api"] == "role:service or role:admin")
        #expect(rules["default"] == "")
        #expect(rules["get_task"] == "rule:default")
        #expect(rules["add_metadef_tag"] == "rule:metadef_admin")
    }

    @Test func impliedRoles() throws {
        var enforcer = try PolicyEnforcer()
        #expect(enforcer.credentials(for: Persona.adminA.principal).roles == ["admin", "member", "reader"])
        #expect(enforcer.credentials(for: Persona.memberA.principal).roles == ["member", "reader"])
        #expect(enforcer.credentials(for: Persona.service.principal).roles == ["service"])
        // Taken literally, as oslo.policy does, a bare `member` is not a `reader`.
        enforcer.impliedRoles = [:]
        let privateA = Self.target(0, for: .memberA)
        #expect(enforcer.enforce("get_image", target: privateA, principal: Persona.memberA.principal) == false)
        #expect(enforcer.enforce("download_image", target: privateA, principal: Persona.memberA.principal) == true)
        #expect(enforcer.enforce("get_image", target: privateA, principal: Persona.adminA.principal) == true)
    }

    @Test func imageTargetKeys() {
        let image = Image(id: "i9", visibility: .shared, owner: "B", createdAt: Date(), properties: ["hw_arch": "x86_64", "owner": "spoof"])
        let target = PolicyTarget.image(image, memberID: "A", memberStatus: "accepted")
        #expect(target["project_id"] == "B")
        #expect(target["owner"] == "B", "core fields win over properties")
        #expect(target["member_id"] == "A")
        #expect(target["member_status"] == "accepted")
        #expect(target["image_id"] == "i9")
        #expect(target["visibility"] == "shared")
        #expect(target["protected"] == "False")
        #expect(target["hw_arch"] == "x86_64")
        #expect(PolicyTarget.image(image)["member_id"] == nil)
    }
}

// MARK: - Policy files

@Suite struct PolicyFileTests {
    let readerA = Principal(projectID: "A", userID: "r", roles: ["reader"])
    let memberA = Principal(projectID: "A", userID: "m", roles: ["member"])
    let privateA = PolicyTarget.image(Image(id: "i1", visibility: .private, owner: "A", createdAt: Date()))

    /// A fresh directory, removed after `body`.
    func withDirectory(_ body: (URL) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test func yamlFileOverridesDefaults() throws {
        try withDirectory { dir in
            let file = dir.appendingPathComponent("policy.yaml")
            try write(
                """
                # Only admins may see images.
                get_image: "role:admin"
                publicize_image: 'role:member and project_id:%(project_id)s'
                my_rule: role:reader
                """, to: file)
            let enforcer = try PolicyEnforcer.load(policyFile: file.path)
            #expect(enforcer.enforce("get_image", target: privateA, principal: readerA) == false)
            #expect(enforcer.enforce("publicize_image", target: privateA, principal: memberA) == true)
            #expect(enforcer.enforce("my_rule", target: [:], principal: readerA) == true)
            #expect(enforcer.checkString("modify_image") == GlanceDefaultPolicy.rules["modify_image"])
        }
    }

    @Test func jsonFileOverridesDefaults() throws {
        try withDirectory { dir in
            let file = dir.appendingPathComponent("policy.json")
            try write(#"{"get_image": "!", "add_image": "@"}"#, to: file)
            let enforcer = try PolicyEnforcer.load(policyFile: file.path)
            #expect(enforcer.enforce("get_image", target: privateA, principal: readerA) == false)
            #expect(enforcer.enforce("add_image", target: [:], principal: readerA) == true)
        }
    }

    @Test func policyDirectoryFilesApplyInSortedOrder() throws {
        try withDirectory { dir in
            let file = dir.appendingPathComponent("policy.yaml")
            try write("a: role:one\nb: role:one\nc: role:one\n", to: file)
            try write("b: role:two\nc: role:two\n", to: dir.appendingPathComponent("policy.d/10-first.yaml"))
            try write(#"{"c": "role:three"}"#, to: dir.appendingPathComponent("policy.d/20-second.json"))
            // Hidden files and sub-directories are not read (this one would not even parse).
            try write("c: [unclosed", to: dir.appendingPathComponent("policy.d/.99-hidden.yaml"))
            try write("c: role:nested", to: dir.appendingPathComponent("policy.d/sub/x.yaml"))
            let enforcer = try PolicyEnforcer.load(policyFile: file.path)
            #expect(enforcer.checkString("a") == "role:one")
            #expect(enforcer.checkString("b") == "role:two")
            #expect(enforcer.checkString("c") == "role:three")
            // A second directory given explicitly (absolute) comes after policy.d.
            let extra = dir.appendingPathComponent("extra")
            try write("a: role:four", to: extra.appendingPathComponent("x.yaml"))
            let both = try PolicyEnforcer.load(policyFile: file.path, policyDirs: ["policy.d", extra.path])
            #expect(both.checkString("a") == "role:four")
            #expect(both.checkString("c") == "role:three")
        }
    }

    @Test func missingFilesAreNotErrors() throws {
        let enforcer = try PolicyEnforcer.load(policyFile: "/nonexistent/glance/policy.yaml")
        #expect(enforcer.rules.count == GlanceDefaultPolicy.rules.count)
        #expect(enforcer.checkString("get_image") == GlanceDefaultPolicy.rules["get_image"])
        let none = try PolicyEnforcer.load(policyFile: nil, policyDirs: ["/nonexistent/policy.d"])
        #expect(none.rules.count == GlanceDefaultPolicy.rules.count)
        try withDirectory { dir in
            // The directory next to a missing policy file is still read.
            try write("get_image: '!'", to: dir.appendingPathComponent("policy.d/x.yaml"))
            let enforcer = try PolicyEnforcer.load(policyFile: dir.appendingPathComponent("policy.yaml").path)
            #expect(enforcer.checkString("get_image") == "!")
            // An empty file, or one holding only null, has no rules.
            let empty = dir.appendingPathComponent("empty.yaml")
            try write("", to: empty)
            #expect(try PolicyEnforcer.load(policyFile: empty.path, policyDirs: []).rules.count == 67)
            try write("~\n", to: empty)
            #expect(try PolicyEnforcer.load(policyFile: empty.path, policyDirs: []).rules.count == 67)
        }
    }

    @Test(arguments: [
        ("get_image: [unclosed", "not valid YAML"),
        ("- role:admin\n- role:member\n", "must be a mapping"),
        ("just some text\n", "must be a mapping"),
        ("get_image: true\n", "\"get_image\" must be a string"),
        ("get_image: 42\n", "\"get_image\" must be a string"),
        ("get_image:\n", "\"get_image\" must be a string"),
        ("get_image: [[\"role:admin\"]]\n", "list-of-lists"),
        ("get_image: 'role:admin and'\n", "\"get_image\""),
        ("get_image: 'http://opa.example/check'\n", "http"),
        (#"{"get_image": "role:admin", "get_image": "role:member"}"#, "not valid YAML"),
    ])
    func badFilesAreRefused(_ content: String, _ expected: String) throws {
        try withDirectory { dir in
            let file = dir.appendingPathComponent("policy.yaml")
            try write(content, to: file)
            do {
                _ = try PolicyEnforcer.load(policyFile: file.path)
                Issue.record("expected an error for \(content)")
            } catch let error as PolicyError {
                #expect(error.message.contains(file.path), "\(error)")
                #expect(error.message.contains(expected), "\(error)")
            }
        }
    }

    @Test func badFileInPolicyDirectoryIsRefused() throws {
        try withDirectory { dir in
            try write("get_image: 'role:'\nadd_image: '('\n", to: dir.appendingPathComponent("policy.d/bad.yaml"))
            #expect(throws: PolicyError.self) { try PolicyEnforcer.load(policyFile: dir.appendingPathComponent("policy.yaml").path) }
            // A policy directory that is a file is refused too.
            try write("x", to: dir.appendingPathComponent("notadir"))
            #expect(throws: PolicyError.self) {
                try PolicyEnforcer.load(policyFile: nil, policyDirs: [dir.appendingPathComponent("notadir").path])
            }
        }
    }
}

// MARK: - Property protections

@Suite struct PropertyProtectionTests {
    let admin = Principal(projectID: "A", userID: "a", roles: ["admin"])
    let member = Principal(projectID: "A", userID: "m", roles: ["member"])
    let reader = Principal(projectID: "A", userID: "r", roles: ["reader"])
    let special = Principal(projectID: "A", userID: "s", roles: ["spl_role"])
    let nobody = Principal(projectID: "A", userID: "n", roles: [])

    /// Glance's own `glance/tests/etc/property-protections.conf` (roles format), shortened.
    static let rolesFile = """
        # comments are ignored
        [^x_owner_.*]
        create = admin,member
        read = admin,member
        update = admin,member
        delete = admin,member

        [spl_read_only_prop]
        create = admin
        read = admin,spl_role
        update = admin
        delete = admin

        [spl_update_only_prop]
        create = admin
        read = admin
        update = admin,spl_role
        delete = admin

        [^x_all_permitted.*]
        create = @
        read = @
        update = @
        delete = @

        [^x_none_permitted.*]
        create = !
        read = !
        update = !
        delete = !

        [x_none_read]
        create = admin,member
        read = !
        update = !
        delete = !

        ; read only by admins, but update/delete by everyone: read wins
        [x_hidden_but_writable]
        create = @
        read = admin
        update = @
        delete = @

        [x_case_insensitive]
        create = admin, Member
        read = admin, Member
        update = admin, Member
        delete = admin, Member

        [x_empty_create]
        create =
        read = @
        update = @
        delete = @

        [x_foo_matcher]
        create = admin
        read = admin
        update = admin
        delete = admin

        [x_foo_*]
        create = @
        read = @
        update = @
        delete = @

        [os_glance_user_section]
        create = !
        read = !
        update = !
        delete = !

        [.*]
        create = admin
        read = admin
        update = admin
        delete = admin
        """

    func protections(_ text: String = PropertyProtectionTests.rolesFile, reserved: Bool = true) throws -> PropertyProtections {
        try PropertyProtections(iniText: text, format: .roles, enforcer: PolicyEnforcer(), reservedSection: reserved)
    }

    /// Expected [create, read, update, delete] for each principal.
    func expect(
        _ p: PropertyProtections, _ property: String, _ principal: Principal, _ expected: [Bool],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let actual = PropertyProtections.Operation.allCases.map { p.allows($0, property: property, principal: principal) }
        #expect(actual == expected, "\(property) for \(principal.roles.sorted())", sourceLocation: sourceLocation)
    }

    @Test func rolesFormat() throws {
        let p = try protections()
        expect(p, "x_owner_foo", member, [true, true, true, true])
        expect(p, "x_owner_foo", admin, [true, true, true, true])
        expect(p, "x_owner_foo", reader, [false, false, false, false])
        expect(p, "spl_read_only_prop", special, [false, true, false, false])
        expect(p, "spl_read_only_prop", admin, [true, true, true, true])
        expect(p, "x_all_permitted_1", nobody, [true, true, true, true])
        expect(p, "x_none_permitted_1", admin, [false, false, false, false])
        expect(p, "x_case_insensitive", member, [true, true, true, true])
        expect(p, "x_case_insensitive", reader, [false, false, false, false])
        expect(p, "x_empty_create", admin, [false, true, true, true])
        // Anything else falls to [.*]: admins only.
        expect(p, "hw_cpu_cores", admin, [true, true, true, true])
        expect(p, "hw_cpu_cores", member, [false, false, false, false])
        // Credentials built once give the same answers.
        let credentials = try PolicyEnforcer().credentials(for: member)
        #expect(p.allows(.read, property: "x_owner_foo", credentials: credentials) == true)
        #expect(p.allows(.read, property: "hw_cpu_cores", credentials: credentials) == false)
    }

    @Test func readDeniedImpliesUpdateAndDeleteDenied() throws {
        let p = try protections()
        // update and delete say '@', but only admins can read the property.
        expect(p, "x_hidden_but_writable", member, [true, false, false, false])
        expect(p, "x_hidden_but_writable", admin, [true, true, true, true])
        // spl_update_only_prop: spl_role may update, but not read, so not update either.
        expect(p, "spl_update_only_prop", special, [false, false, false, false])
        expect(p, "x_none_read", member, [true, false, false, false])
    }

    @Test func firstMatchingSectionWins() throws {
        let p = try protections()
        // x_foo_matcher also matches [x_foo_*] and [.*]; the first section decides.
        #expect(p.section(for: "x_foo_matcher") == "x_foo_matcher")
        expect(p, "x_foo_matcher", member, [false, false, false, false])
        expect(p, "x_foo_matcher", admin, [true, true, true, true])
        #expect(p.section(for: "x_foo_bar") == "x_foo_*")
        expect(p, "x_foo_bar", nobody, [true, true, true, true])
        // Sections match anywhere in the name (Python's re.search), unless anchored.
        #expect(p.section(for: "my_spl_read_only_prop_2") == "spl_read_only_prop")
        #expect(p.section(for: "y_x_owner_foo") == ".*", "^x_owner_.* is anchored")
    }

    @Test func unmatchedPropertiesAreDenied() throws {
        let p = try protections(
            """
            [^x_]
            create = @
            read = @
            update = @
            delete = @
            """)
        expect(p, "x_a", nobody, [true, true, true, true])
        expect(p, "y_a", admin, [false, false, false, false])
        #expect(p.section(for: "y_a") == nil)
        // With no sections at all (and no reserved section), Glance protects nothing.
        let empty = try protections("# nothing\n", reserved: false)
        expect(empty, "anything", nobody, [true, true, true, true])
    }

    @Test func reservedSectionComesFirst() throws {
        let p = try protections()
        #expect(p.sectionNames.first == "os_glance.*")
        #expect(!p.sectionNames.contains("os_glance_user_section"))
        expect(p, "os_glance_import_task", nobody, [true, true, true, true])
        let plain = try protections(reserved: false)
        #expect(plain.sectionNames.first == "^x_owner_.*")
        expect(plain, "os_glance_user_section", admin, [false, false, false, false])
        expect(plain, "os_glance_import_task", member, [false, false, false, false])
    }

    @Test func iniDetails() throws {
        let p = try protections(
            """
            [DEFAULT]
            delete = !

            [^x_]
            Create: admin,
              member
            read = @
            update = @
            """)
        expect(p, "x_1", member, [true, true, true, false])
        expect(p, "x_1", reader, [false, true, true, false])
    }

    @Test func policiesFormat() throws {
        let enforcer = try PolicyEnforcer(overrides: ["glance_creator": "role:admin or role:spl_role"])
        let p = try PropertyProtections(
            iniText: """
                [spl_creator_policy]
                create = glance_creator
                read = glance_creator
                update = context_is_admin
                delete = context_is_admin

                [spl_default_policy]
                create = context_is_admin
                read = default
                update = context_is_admin
                delete = context_is_admin

                [^x_all_permitted.*]
                create = @
                read = @
                update = @
                delete = @

                [x_none_read]
                create = context_is_admin
                read = !
                update = !
                delete = !

                [.*]
                create = context_is_admin
                read = context_is_admin
                update = context_is_admin
                delete = context_is_admin
                """,
            format: .policies, enforcer: enforcer)
        expect(p, "spl_creator_policy", special, [true, true, false, false])
        expect(p, "spl_creator_policy", admin, [true, true, true, true])
        expect(p, "spl_creator_policy", member, [false, false, false, false])
        expect(p, "spl_default_policy", member, [false, true, false, false])
        expect(p, "x_all_permitted", nobody, [true, true, true, true])
        expect(p, "x_none_read", admin, [true, false, false, false])
        expect(p, "other", admin, [true, true, true, true])
        expect(p, "other", member, [false, false, false, false])
        // Policies are evaluated with an empty target: project_id checks cannot match.
        let scoped = try PolicyEnforcer(overrides: ["own": "project_id:%(project_id)s"])
        let q = try PropertyProtections(
            iniText: "[.*]\ncreate = own\nread = @\nupdate = @\ndelete = @\n", format: .policies, enforcer: scoped)
        expect(q, "p", admin, [false, true, true, true])
    }

    @Test(arguments: [
        // (format, file, expected words in the message)
        ("roles", "[x]\ncreate = @\nread = @\nupdate = @\n", "no 'delete' key"),
        ("roles", "[x_(]\ncreate = @\nread = @\nupdate = @\ndelete = @\n", "not a valid regular expression"),
        ("roles", "[x]\ncreate = @,!\nread = @\nupdate = @\ndelete = @\n", "mutually exclusive"),
        ("roles", "[x]\ncreate = admin, !, @\nread = @\nupdate = @\ndelete = @\n", "mutually exclusive"),
        ("policies", "[x]\ncreate = no_such_rule\nread = @\nupdate = @\ndelete = @\n", "no policy rule named 'no_such_rule'"),
        ("policies", "[x]\ncreate = default,context_is_admin\nread = @\nupdate = @\ndelete = @\n", "only one policy"),
        ("roles", "[x]\ncreate = @\n[x]\ncreate = @\n", "appears twice"),
        ("roles", "create = @\n[x]\n", "before any [section]"),
        ("roles", "[x]\ncreate = @\ncreate = !\n", "appears twice"),
        ("roles", "[x]\njust words\n", "expected [section]"),
        ("roles", "[x]\ncreate = 50%\nread = @\nupdate = @\ndelete = @\n", "%%"),
        ("roles", "[(?<=a)b]\ncreate = @\nread = @\nupdate = @\ndelete = @\n", "not a valid regular expression"),
    ])
    func badFilesAreRefused(_ format: String, _ text: String, _ expected: String) throws {
        let enforcer = try PolicyEnforcer()
        do {
            _ = try PropertyProtections(iniText: text, format: PropertyProtections.Format(rawValue: format)!, enforcer: enforcer)
            Issue.record("expected an error")
        } catch let error as PolicyError {
            #expect(error.message.contains(expected), "\(error)")
        }
    }
}
