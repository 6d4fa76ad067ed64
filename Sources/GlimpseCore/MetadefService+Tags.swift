import GlimpseCatalog
import GlimpseDomain

extension MetadefService {
    /// Tags in `query`'s order (all of them unless `limit` is set); `marker` is a tag name.
    public func listTags(_ namespaceName: String, query: MetadefQuery, principal: Principal) async throws -> [MetadefTag] {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_tags", namespace, principal: principal)
        var marker: MetadefTag?
        if let name = query.marker {
            guard let found = try await catalog.tag(named: name, in: namespace) else {
                throw GlimpseError.notFound("Could not find metadata tag \(name)")
            }
            marker = found
        }
        return try await catalog.tags(in: namespace, query: query, after: marker)
    }

    public func showTag(_ namespaceName: String, name: String, principal: Principal) async throws -> MetadefTag {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_tag", namespace, principal: principal)
        guard let tag = try await catalog.tag(named: name, in: namespace) else {
            throw GlimpseError.notFound("Could not find metadata tag \(name)")
        }
        return tag
    }

    /// `POST …/tags/{name}`: the name comes from the path and must match the tag schema.
    public func createTag(_ namespaceName: String, name: String, principal: Principal) async throws -> MetadefTag {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        let fields = JSONObject([("name", .string(name))])
        if let reason = JSONSchemaValidator(schema: MetadefSchemas.tag).firstError(in: .object(fields)) {
            throw GlimpseError.badRequest("Provided object does not match schema 'tag': \(reason)")
        }
        try policy.enforce("add_metadef_tag", namespace, principal: principal)
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "create metadata tag")
        let t = now()
        return try await catalog.createTag(MetadefTag(name: name, createdAt: t, updatedAt: t), in: namespace)
    }

    /// `POST …/tags` with `{"tags": [{"name": …}, …]}`: replaces the namespace's tags, or adds
    /// to them when `append` (`X-Openstack-Append: true`). An empty list changes nothing.
    public func createTags(_ namespaceName: String, body: JSONValue, append: Bool, principal: Principal) async throws -> [String] {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.tagList, name: "tags", readOnly: ["created_at", "updated_at"])
        let names = fields["tags"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("add_metadef_tags", namespace, principal: principal)
        guard !names.isEmpty else { return [] }
        let t = now()
        return try await catalog.createTags(names.map { MetadefTag(name: $0, createdAt: t, updatedAt: t) }, in: namespace, append: append)
            .map(\.name)
    }

    /// Renames a tag (`{"name": …}`).
    public func updateTag(_ namespaceName: String, name: String, body: JSONValue, principal: Principal) async throws -> MetadefTag {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.tag, name: "tag", readOnly: ["created_at", "updated_at"])
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("modify_metadef_tag", namespace, principal: principal)
        guard let existing = try await catalog.tag(named: name, in: namespace) else {
            throw GlimpseError.notFound("Could not find metadata tag \(name)")
        }
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "update metadata tag")
        let renamed = MetadefTag(name: fields["name"]?.stringValue ?? name, createdAt: existing.createdAt, updatedAt: now())
        return try await catalog.updateTag(named: name, to: renamed, in: namespace)
    }

    public func deleteTag(_ namespaceName: String, name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("delete_metadef_tag", namespace, principal: principal)
        guard try await catalog.tag(named: name, in: namespace) != nil else {
            throw GlimpseError.notFound("Could not find metadata tag \(name)")
        }
        if namespace.protected {
            throw GlimpseError.forbidden("Metadata definition tag \(name) is protected and cannot be deleted.")
        }
        try await catalog.deleteTag(named: name, in: namespace)
    }
}
