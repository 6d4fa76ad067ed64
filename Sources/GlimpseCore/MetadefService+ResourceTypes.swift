import GlimpseCatalog
import GlimpseDomain

extension MetadefService {
    /// Every resource type (`GET /v2/metadefs/resource_types`).
    public func listResourceTypes(principal: Principal) async throws -> [MetadefResourceType] {
        try policy.enforce("list_metadef_resource_types", nil, principal: principal)
        return try await catalog.resourceTypes()
    }

    /// The namespace's resource type associations.
    public func listAssociations(_ namespaceName: String, principal: Principal) async throws -> [MetadefResourceTypeAssociation] {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("list_metadef_resource_types", namespace, principal: principal)
        guard policy.allows("get_metadef_resource_type", namespace, principal: principal) else { return [] }
        return try await catalog.associations(of: namespace)
    }

    /// Associates the namespace with a resource type (created if new): `{"name", "prefix", "properties_target"}`.
    public func createAssociation(_ namespaceName: String, body: JSONValue, principal: Principal) async throws
        -> MetadefResourceTypeAssociation
    {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.resourceType, name: "resource_type_association",
                                                readOnly: ["created_at", "updated_at"])
        let association = try MetadefRequest.association(.object(fields), createdAt: now())
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("add_metadef_resource_type_association", namespace, principal: principal)
        return try await catalog.createAssociation(association, in: namespace)
    }

    public func deleteAssociation(_ namespaceName: String, name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("remove_metadef_resource_type_association", namespace, principal: principal)
        guard try await catalog.associations(of: namespace).contains(where: { $0.name == name }) else {
            throw GlimpseError.notFound("Failed to find resource type \(name) to delete")
        }
        if namespace.protected {
            throw GlimpseError.forbidden(
                "Metadata definition resource-type-association \(name) is protected and cannot be deleted.")
        }
        try await catalog.deleteAssociation(named: name, in: namespace)
    }
}
