import GlimpseCatalog
import GlimpseDomain

extension MetadefService {
    static let objectReadOnly = ["self", "schema", "created_at", "updated_at"]

    /// The namespace for an object call: a missing one keeps Glance's object-call wording.
    func objectNamespace(_ name: String, principal: Principal) async throws -> MetadefNamespace {
        try await visibleNamespace(name, principal: principal, missing: Self.missingNamespace(name))
    }

    public func listObjects(_ namespaceName: String, principal: Principal) async throws -> [MetadefObject] {
        let namespace = try await objectNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_objects", namespace, principal: principal)
        guard policy.allows("get_metadef_object", namespace, principal: principal) else { return [] }
        return try await catalog.objects(in: namespace).map(Self.shown)
    }

    public func showObject(_ namespaceName: String, name: String, principal: Principal) async throws -> MetadefObject {
        let namespace = try await objectNamespace(namespaceName, principal: principal)
        try policy.enforce("get_metadef_object", namespace, principal: principal)
        guard let object = try await catalog.object(named: name, in: namespace) else {
            throw GlimpseError.notFound("Could not find metadata object \(name)")
        }
        return Self.shown(object)
    }

    /// Creates an object; each property definition must match the property schema.
    public func createObject(_ namespaceName: String, body: JSONValue, principal: Principal) async throws -> MetadefObject {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.object, name: "object", readOnly: Self.objectReadOnly)
        for (_, definition) in fields["properties"]?.objectValue?.pairs ?? [] {
            if let reason = JSONSchemaValidator(schema: MetadefSchemas.objectProperty).firstError(in: definition) {
                throw GlimpseError.badRequest("Provided object does not match schema 'property': \(reason)")
            }
        }
        let object = try MetadefRequest.object(fields, createdAt: now())
        let namespace = try await objectNamespace(namespaceName, principal: principal)
        try policy.enforce("add_metadef_object", namespace, principal: principal)
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "create metadata object")
        return try await catalog.createObject(object, in: namespace)
    }

    /// Replaces an object (PUT): absent description, required and properties are cleared.
    public func updateObject(_ namespaceName: String, name: String, body: JSONValue, principal: Principal) async throws
        -> MetadefObject
    {
        let fields = try MetadefRequest.checked(body, schema: MetadefSchemas.object, name: "object", readOnly: Self.objectReadOnly)
        var object = try MetadefRequest.object(fields, createdAt: now())
        let namespace = try await objectNamespace(namespaceName, principal: principal)
        try policy.enforce("modify_metadef_object", namespace, principal: principal)
        guard let existing = try await catalog.object(named: name, in: namespace) else {
            throw GlimpseError.notFound("Could not find metadata object \(name)")
        }
        object.createdAt = existing.createdAt
        object.updatedAt = now()
        try MetadefRequest.refuse4ByteCharacters(in: fields, action: "update metadata object")
        return try await catalog.updateObject(named: name, to: object, in: namespace)
    }

    public func deleteObject(_ namespaceName: String, name: String, principal: Principal) async throws {
        let namespace = try await objectNamespace(namespaceName, principal: principal)
        try policy.enforce("delete_metadef_object", namespace, principal: principal)
        guard try await catalog.object(named: name, in: namespace) != nil else {
            throw GlimpseError.notFound("Could not find metadata object \(name)")
        }
        if namespace.protected {
            throw GlimpseError.forbidden("Metadata definition object \(name) is protected and cannot be deleted.")
        }
        try await catalog.deleteObject(named: name, in: namespace)
    }

    /// A stored object as Glance shows it: `required` is a list (empty when unset) and the
    /// property definitions are re-read through the property model.
    static func shown(_ object: MetadefObject) -> MetadefObject {
        var shown = object
        shown.required = object.required ?? []
        shown.properties = shownProperties(object.properties)
        return shown
    }
}
