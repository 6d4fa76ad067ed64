import Foundation
import GlimpseDomain

/// Glance's metadef request deserializers: read-only attributes (403), the JSON schema (400),
/// then its WSME models (which attributes exist, which are mandatory, how values convert).
/// Where Glance's models fail with 500 (an unknown attribute inside a property definition, an
/// object without a name), these answer 400.
enum MetadefRequest {
    /// A JSON object body without read-only attributes that matches `schema`.
    static func checked(_ body: JSONValue, schema: JSONValue, name: String, readOnly: [String]) throws -> JSONObject {
        if let o = body.objectValue {
            for key in readOnly where o[key] != nil { throw GlimpseError.forbidden("Attribute '\(key)' is read-only.") }
        }
        if let reason = JSONSchemaValidator(schema: schema).firstError(in: body) {
            throw GlimpseError.badRequest("Provided object does not match schema '\(name)': \(reason)")
        }
        guard let o = body.objectValue else { throw GlimpseError.badRequest("Unexpected body type. Expected a JSON object.") }
        return o
    }

    /// Refuses attributes a WSME model does not have, and missing mandatory ones.
    static func checkAttributes(_ o: JSONObject, allowed: Set<String>, mandatory: [String], label: String) throws {
        let unknown = o.keys.filter { !allowed.contains($0) }
        if !unknown.isEmpty {
            throw GlimpseError.badRequest("Unknown attribute for argument \(label): \(unknown.sorted().joined(separator: ", "))")
        }
        for key in mandatory where o[key] == nil || o[key] == .null {
            throw GlimpseError.badRequest("Invalid input for field/attribute \(key). Value: 'None'. Mandatory field missing.")
        }
    }

    static func text(_ value: JSONValue?) -> String? { value?.stringValue }

    /// The namespace fields of a create or update document; what is absent takes Glance's
    /// defaults (private, not protected, owned by `owner`).
    static func namespace(_ fields: JSONObject, owner: String, createdAt: Date) throws -> MetadefNamespace {
        guard let name = text(fields["namespace"]) else {
            throw GlimpseError.badRequest("Invalid input for field/attribute namespace. Value: 'None'. Mandatory field missing.")
        }
        let givenOwner = text(fields["owner"]).flatMap { $0.isEmpty ? nil : $0 }
        return MetadefNamespace(
            namespace: name, displayName: text(fields["display_name"]), description: text(fields["description"]),
            visibility: text(fields["visibility"]) ?? "private", protected: fields["protected"]?.boolValue ?? false,
            owner: givenOwner ?? owner, createdAt: createdAt, updatedAt: createdAt)
    }

    /// A resource type association (`name`, `prefix`, `properties_target`).
    static func association(_ value: JSONValue, createdAt: Date) throws -> MetadefResourceTypeAssociation {
        let o = value.objectValue ?? JSONObject()
        try checkAttributes(o, allowed: ["name", "prefix", "properties_target", "created_at", "updated_at"], mandatory: ["name"],
                            label: "resource_type_associations")
        return MetadefResourceTypeAssociation(
            name: text(o["name"]) ?? "", prefix: text(o["prefix"]), propertiesTarget: text(o["properties_target"]),
            createdAt: createdAt, updatedAt: createdAt)
    }

    /// An object definition: name, description, required property names and property definitions.
    static func object(_ o: JSONObject, createdAt: Date) throws -> MetadefObject {
        try checkAttributes(o, allowed: ["name", "required", "description", "properties", "created_at", "updated_at", "self", "schema"],
                            mandatory: ["name"], label: "objects")
        var properties = JSONObject()
        for (name, definition) in o["properties"]?.objectValue?.pairs ?? [] {
            properties[name] = .object(try MetadefPropertyType.normalize(definition.objectValue ?? JSONObject(), label: name))
        }
        return MetadefObject(
            name: text(o["name"]) ?? "", description: text(o["description"]),
            required: o["required"]?.arrayValue?.compactMap(\.stringValue), properties: properties, createdAt: createdAt,
            updatedAt: createdAt)
    }

    /// Refuses characters outside the Basic Multilingual Plane, as Glance's database layer does
    /// (MySQL's `utf8` cannot store them): `Couldn't <action>: Description can't contain 4 byte
    /// unicode characters.`
    static func refuse4ByteCharacters(in fields: JSONObject, action: String, skipping: Set<String> = ["resource_type_associations"])
        throws
    {
        func wide(_ s: String) -> Bool { s.unicodeScalars.contains { $0.value > 0xFFFF } }
        func check(_ key: String, _ value: JSONValue) throws {
            switch value {
            case .string(let s) where wide(s):
                throw GlimpseError.badRequest("Couldn't \(action): \(pythonTitle(key)) can't contain 4 byte unicode characters.")
            case .array(let items):
                for item in items { try check(key, item) }
            case .object(let o):
                for (k, v) in o.pairs {
                    if wide(k) { throw GlimpseError.badRequest("Couldn't \(action): Property names can't contain 4 byte unicode.") }
                    try check(k, v)
                }
            default: break
            }
        }
        for (key, value) in fields.pairs where !skipping.contains(key) { try check(key, value) }
    }

    /// Python's `str.title()` for the ASCII names used here (`display_name` → `Display_Name`).
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousIsLetter = false
        for c in s {
            out += previousIsLetter ? c.lowercased() : c.uppercased()
            previousIsLetter = c.isLetter
        }
        return out
    }
}
