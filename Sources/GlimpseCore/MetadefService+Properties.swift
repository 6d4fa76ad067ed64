import GlimpseCatalog
import GlimpseDomain

extension MetadefService {
    static let propertyReadOnly = ["created_at", "updated_at"]

    /// The namespace's property definitions by name, as Glance shows them.
    public func listProperties(_ namespaceName: String, principal: Principal) async throws -> [(String, JSONObject)] {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_properties", namespace, principal: principal)
        return try await catalog.properties(in: namespace).map { ($0.name, MetadefPropertyType.normalizeStored($0.schema)) }
    }

    /// One property definition, `name` first. With `resourceType`, `name` carries that
    /// association's prefix, which is taken off before the lookup (404 without it).
    public func showProperty(_ namespaceName: String, name: String, resourceType: String?, principal: Principal) async throws
        -> JSONObject
    {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_property", namespace, principal: principal)
        var propertyName = name
        if let resourceType, !resourceType.isEmpty {
            try policy.enforce("get_metadef_resource_type", namespace, principal: principal)
            guard try await catalog.resourceTypes().contains(where: { $0.name == resourceType }) else {
                throw GlimpseError.notFound("The metadata definition resource-type with name=\(resourceType), was not found.")
            }
            guard let association = try await catalog.associations(of: namespace).first(where: { $0.name == resourceType }) else {
                throw GlimpseError.notFound(
                    "The metadata definition resource-type association of resource-type=\(resourceType) to namespace=\(namespaceName), was not found.")
            }
            let prefix = association.prefix ?? ""
            guard !prefix.isEmpty, name.hasPrefix(prefix) else {
                throw GlimpseError.notFound(
                    "Property \(name) does not start with the expected resource type association prefix of '\(association.prefix ?? "None")'.")
            }
            propertyName = String(name.dropFirst(prefix.count))
        }
        guard let property = try await catalog.property(named: propertyName, in: namespace) else {
            throw GlimpseError.notFound("Could not find property \(propertyName)")
        }
        return Self.shown(property)
    }

    public func createProperty(_ namespaceName: String, body: JSONValue, principal: Principal) async throws -> JSONObject {
        let definition = try Self.propertyDefinition(body)
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("add_metadef_property", namespace, principal: principal)
        try MetadefRequest.refuse4ByteCharacters(in: definition, action: "create metadata property")
        let t = now()
        let property = MetadefProperty(name: definition["name"]?.stringValue ?? "", schema: definition, createdAt: t, updatedAt: t)
        return Self.shown(try await catalog.createProperty(property, in: namespace))
    }

    /// Replaces a property definition (it may be renamed).
    public func updateProperty(_ namespaceName: String, name: String, body: JSONValue, principal: Principal) async throws
        -> JSONObject
    {
        let definition = try Self.propertyDefinition(body)
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("modify_metadef_property", namespace, principal: principal)
        guard let existing = try await catalog.property(named: name, in: namespace) else {
            throw GlimpseError.notFound("Could not find property \(name)")
        }
        try MetadefRequest.refuse4ByteCharacters(in: definition, action: "update metadata property")
        let property = MetadefProperty(
            name: definition["name"]?.stringValue ?? "", schema: definition, createdAt: existing.createdAt, updatedAt: now())
        return Self.shown(try await catalog.updateProperty(named: name, to: property, in: namespace))
    }

    public func deleteProperty(_ namespaceName: String, name: String, principal: Principal) async throws {
        let namespace = try await visibleNamespace(namespaceName, principal: principal)
        try policy.enforce("remove_metadef_property", namespace, principal: principal)
        guard try await catalog.property(named: name, in: namespace) != nil else {
            throw GlimpseError.notFound("Could not find property \(name)")
        }
        if namespace.protected {
            throw GlimpseError.forbidden("Metadata definition property \(name) is protected and cannot be deleted.")
        }
        try await catalog.deleteProperty(named: name, in: namespace)
    }

    /// A property body checked against the property schema, in its stored form (with `name`).
    static func propertyDefinition(_ body: JSONValue) throws -> JSONObject {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.property, name: "property", readOnly: propertyReadOnly)
        return try MetadefPropertyType.normalize(fields, label: fields["name"]?.stringValue ?? "property")
    }

    /// A stored definition as shown on its own: the row's name first, then the definition.
    static func shown(_ property: MetadefProperty) -> JSONObject {
        var definition = property.schema
        definition["name"] = .string(property.name)
        return MetadefPropertyType.normalizeStored(definition)
    }
}
