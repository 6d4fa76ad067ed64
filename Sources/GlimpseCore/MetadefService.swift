import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpsePolicy

/// The metadata definitions operations (`/v2/metadefs/…`): one linear function per API call,
/// in Glance's order: check the body (read-only attributes 403, schema 400), find the
/// namespace (404 when missing or not visible), ask `MetadefPolicy`, change the catalog.
/// Throws only `GlimpseError`.
public struct MetadefService: Sendable {
    public let catalog: any MetadefCatalog
    public let policy: MetadefPolicy
    /// `limit_param_default` and `api_limit_max` (namespace lists).
    public let limitDefault: Int
    public let limitMax: Int
    let now: @Sendable () -> Date

    public init(
        catalog: any MetadefCatalog, configuration: ImageServiceConfiguration = .init(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.catalog = catalog
        self.policy = MetadefPolicy(enforcer: configuration.policy.enforcer)
        self.limitDefault = configuration.limitDefault
        self.limitMax = configuration.limitMax
        self.now = clock
    }

    /// A namespace with the children a response shows. `nil` children are left out of the
    /// response; `echo` marks create's answer, which repeats the children as they were sent.
    public struct NamespaceDetail: Sendable {
        public var namespace: MetadefNamespace
        public var associations: [MetadefResourceTypeAssociation]?
        public var properties: [(String, JSONObject)]?
        public var objects: [MetadefObject]?
        public var tags: [String]?
        public var echo = false

        public init(
            namespace: MetadefNamespace, associations: [MetadefResourceTypeAssociation]? = nil,
            properties: [(String, JSONObject)]? = nil, objects: [MetadefObject]? = nil, tags: [String]? = nil, echo: Bool = false
        ) {
            self.namespace = namespace
            self.associations = associations
            self.properties = properties
            self.objects = objects
            self.tags = tags
            self.echo = echo
        }
    }

    /// A page of namespaces and the marker of the next page, if there may be one.
    public struct NamespacePage: Sendable {
        public var namespaces: [NamespaceDetail]
        public var next: String?
    }

    // MARK: lookup

    /// The namespace if the caller may see it (Glance's database-layer visibility); 404 otherwise.
    func visibleNamespace(_ name: String, principal: Principal, missing: String? = nil) async throws -> MetadefNamespace {
        guard let namespace = try await catalog.namespace(named: name) else {
            throw GlimpseError.notFound(missing ?? "Namespace \(name) not found")
        }
        guard policy.canSee(namespace, principal: principal) else { throw GlimpseError.notFound("Namespace \(name) not found") }
        return namespace
    }

    static func missingNamespace(_ name: String) -> String { "Metadata definition namespace=\(name) was not found." }

    // MARK: namespaces

    public func listNamespaces(_ query: MetadefQuery, principal: Principal) async throws -> NamespacePage {
        try policy.enforce("get_metadef_namespaces", nil, principal: principal)
        try policy.enforce("list_metadef_resource_types", nil, principal: principal)
        var query = query
        query.limit = min(query.limit ?? limitDefault, limitMax)
        var marker: MetadefNamespace?
        if let name = query.marker {
            guard let found = try await catalog.namespace(named: name) else {
                throw GlimpseError.notFound(Self.missingNamespace(name))
            }
            guard policy.canSee(found, principal: principal) else {
                throw GlimpseError.forbidden("Forbidding request, metadata definition namespace=\(name) is not visible.")
            }
            marker = found
        }
        let rows = try await catalog.listNamespaces(
            query, after: marker, project: principal.projectID, includeAll: policy.isAdmin(principal))
        let visible = rows.filter { policy.allows("get_metadef_namespace", $0, principal: principal) }
        let associations = try await catalog.associations(of: visible)
        let page = visible.map { namespace in
            NamespaceDetail(namespace: namespace, associations: associations[namespace.id ?? 0].flatMap { $0.isEmpty ? nil : $0 })
        }
        let limit = query.limit ?? 0
        return NamespacePage(namespaces: page, next: !page.isEmpty && page.count == limit ? visible.last?.namespace : nil)
    }

    /// The namespace with its objects, properties, tags and associations; with `resourceType`,
    /// property names (also inside objects and their `required`) carry that association's prefix.
    public func showNamespace(_ name: String, resourceType: String?, principal: Principal) async throws -> NamespaceDetail {
        guard let namespace = try await catalog.namespace(named: name) else {
            throw GlimpseError.notFound(Self.missingNamespace(name))
        }
        guard policy.canSee(namespace, principal: principal) else { throw GlimpseError.notFound("The resource could not be found.") }
        try policy.enforce("get_metadef_namespace", namespace, principal: principal)
        for rule in ["list_metadef_resource_types", "get_metadef_objects", "get_metadef_properties", "get_metadef_tags"] {
            try policy.enforce(rule, namespace, principal: principal)
        }
        let associations = try await catalog.associations(of: namespace)
        var objects = try await catalog.objects(in: namespace)
        for i in objects.indices { objects[i].properties = Self.shownProperties(objects[i].properties) }
        var properties = try await catalog.properties(in: namespace).map { ($0.name, MetadefPropertyType.normalizeStored($0.schema)) }
        let tags = try await catalog.tags(in: namespace, query: MetadefQuery(), after: nil).map(\.name)
        if let resourceType, let prefix = associations.first(where: { $0.name == resourceType })?.prefix, !prefix.isEmpty {
            properties = properties.map { (prefix + $0.0, $0.1) }
            for i in objects.indices {
                objects[i].properties = JSONObject(objects[i].properties.pairs.map { (prefix + $0.0, $0.1) })
                if let required = objects[i].required, !required.isEmpty { objects[i].required = required.map { prefix + $0 } }
            }
        }
        return NamespaceDetail(
            namespace: namespace, associations: associations.isEmpty ? nil : associations,
            properties: properties.isEmpty ? nil : properties, objects: objects.isEmpty ? nil : objects,
            tags: tags.isEmpty ? nil : tags)
    }

    /// Creates a namespace, and whatever resource type associations, properties, objects and
    /// tags the document carries, in one transaction.
    public func createNamespace(_ body: JSONValue, principal: Principal) async throws -> NamespaceDetail {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.namespace, name: "namespace",
                                                readOnly: ["self", "schema", "created_at", "updated_at"])
        let t = now()
        var namespace = try MetadefRequest.namespace(fields, owner: principal.projectID ?? "", createdAt: t)
        namespace.updatedAt = t
        var contents = MetadefNamespaceContents()
        var detail = NamespaceDetail(namespace: namespace, echo: true)
        if let list = fields["resource_type_associations"]?.arrayValue {
            // One microsecond apart, so creation order is also the order they are listed in.
            contents.associations = try list.enumerated().map { i, item in
                try MetadefRequest.association(item, createdAt: t.addingTimeInterval(Double(i) / 1_000_000))
            }
            detail.associations = contents.associations
        }
        if let properties = fields["properties"]?.objectValue {
            contents.properties = try properties.pairs.map { name, value in
                (name, try MetadefPropertyType.normalize(value.objectValue ?? JSONObject(), label: name))
            }
            detail.properties = contents.properties
        }
        if let objects = fields["objects"]?.arrayValue {
            contents.objects = try objects.map { try MetadefRequest.object($0.objectValue ?? JSONObject(), createdAt: t) }
            detail.objects = contents.objects
        }
        if let tags = fields["tags"]?.arrayValue {
            contents.tags = try tags.map { tag in
                guard let name = tag.objectValue?["name"]?.stringValue else {
                    throw GlimpseError.badRequest("Invalid input for field/attribute name. Value: 'None'. Mandatory field missing.")
                }
                return name
            }
            detail.tags = contents.tags
        }

        try policy.enforce("add_metadef_namespace", nil, principal: principal)
        if !contents.associations.isEmpty { try policy.enforce("add_metadef_resource_type_association", nil, principal: principal) }
        if !contents.objects.isEmpty { try policy.enforce("add_metadef_object", nil, principal: principal) }
        if !contents.properties.isEmpty { try policy.enforce("add_metadef_property", nil, principal: principal) }
        if !contents.tags.isEmpty { try policy.enforce("add_metadef_tag", nil, principal: principal) }
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "create metadata namespace")

        detail.namespace = try await catalog.createNamespace(namespace, contents: contents, protectNewResourceTypes: false)
        return detail
    }

    /// Replaces the namespace's own fields (PUT): absent fields take their defaults again
    /// (`visibility` private, `protected` false, `owner` the caller's project). A rename keeps
    /// the children.
    public func updateNamespace(_ name: String, body: JSONValue, principal: Principal) async throws -> MetadefNamespace {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.namespace, name: "namespace",
                                                readOnly: ["self", "schema", "created_at", "updated_at"])
        let existing = try await visibleNamespace(name, principal: principal)
        try policy.enforce("modify_metadef_namespace", existing, principal: principal)
        var changed = try MetadefRequest.namespace(fields, owner: principal.projectID ?? "", createdAt: existing.createdAt)
        changed.id = existing.id
        changed.updatedAt = now()
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "update metadata namespace")
        return try await catalog.updateNamespace(changed)
    }

    public func deleteNamespace(_ name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(name, principal: principal)
        try policy.enforce("delete_metadef_namespace", namespace, principal: principal)
        try Self.refuseProtected(namespace)
        try await catalog.deleteNamespace(namespace)
    }

    /// `DELETE …/objects`: Glance asks `delete_metadef_namespace` here.
    public func deleteObjects(_ name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(name, principal: principal)
        try policy.enforce("delete_metadef_namespace", namespace, principal: principal)
        try Self.refuseProtected(namespace)
        try await catalog.deleteObjects(in: namespace)
    }

    public func deleteProperties(_ name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(name, principal: principal)
        try policy.enforce("delete_metadef_namespace", namespace, principal: principal)
        try Self.refuseProtected(namespace)
        try await catalog.deleteProperties(in: namespace)
    }

    public func deleteTags(_ name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(name, principal: principal)
        try policy.enforce("delete_metadef_namespace", namespace, principal: principal)
        try policy.enforce("delete_metadef_tags", namespace, principal: principal)
        try Self.refuseProtected(namespace)
        try await catalog.deleteTags(in: namespace)
    }

    static func refuseProtected(_ namespace: MetadefNamespace) throws {
        if namespace.protected {
            throw GlimpseError.forbidden("Metadata definition namespace \(namespace.namespace) is protected and cannot be deleted.")
        }
    }

    /// Stored property documents as Glance shows them (re-read through its model).
    static func shownProperties(_ properties: JSONObject) -> JSONObject {
        JSONObject(properties.pairs.map { ($0.0, .object(MetadefPropertyType.normalizeStored($0.1.objectValue ?? JSONObject()))) })
    }
}
