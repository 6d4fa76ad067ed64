import Foundation

/// A property definition in the form Glance stores and shows it.
///
/// Glance passes every property definition through its WSME `PropertyType` model on the way
/// in and on the way out, and that model decides the stored document: only the known
/// attributes, in the model's order, with its conversions. `minimum` and `maximum` are
/// integers there (`0.5` becomes `0`), `default` is text (`2` becomes `"2"`, `true` becomes
/// `"True"`, a list or object becomes `null`), and `items` holds only `type` and `enum`.
/// Requests are checked against `MetadefSchemas` first; this is the step after it.
public enum MetadefPropertyType {
    enum Kind { case text, integer, bytes, boolean, list, items }

    /// The model's attributes in declaration order (the order of the stored and shown keys).
    static let attributes: [(String, Kind)] = [
        ("name", .text), ("type", .text), ("title", .text), ("description", .text), ("operators", .list),
        ("default", .bytes), ("readonly", .boolean), ("minimum", .integer), ("maximum", .integer), ("enum", .list),
        ("pattern", .text), ("minLength", .integer), ("maxLength", .integer), ("confidential", .boolean),
        ("items", .items), ("uniqueItems", .boolean), ("minItems", .integer), ("maxItems", .integer),
        ("additionalItems", .boolean),
    ]
    static let known = Set(attributes.map(\.0))

    /// The stored form of a definition from a request. Throws `badRequest` for attributes the
    /// model does not have, a missing `type` or `title`, or a value it cannot convert (where
    /// Glance fails with 500).
    ///
    /// - Parameter label: the property's name, for messages.
    public static func normalize(_ definition: JSONObject, label: String) throws -> JSONObject {
        let unknown = definition.keys.filter { !known.contains($0) }
        if !unknown.isEmpty {
            throw GlimpseError.badRequest("Unknown attribute for argument \(label): \(unknown.sorted().joined(separator: ", "))")
        }
        for key in ["type", "title"] where definition[key] == nil {
            throw GlimpseError.badRequest("Invalid input for field/attribute \(key). Value: 'None'. Mandatory field missing.")
        }
        return try convert(definition, label: label, strict: true)
    }

    /// The shown form of a stored definition (Glance re-reads stored documents through the same
    /// model). Rows written by other tools may hold anything: unknown attributes and values the
    /// model cannot convert are left out rather than failing the request.
    public static func normalizeStored(_ definition: JSONObject) -> JSONObject {
        (try? convert(definition, label: "", strict: false)) ?? JSONObject()
    }

    static func convert(_ definition: JSONObject, label: String, strict: Bool) throws -> JSONObject {
        var out = JSONObject()
        for (key, kind) in attributes {
            guard let value = definition[key] else { continue }
            if value == .null {
                out[key] = .null
                continue
            }
            let converted: JSONValue?
            switch kind {
            case .text: converted = value
            case .integer: converted = integer(value)
            case .bytes: converted = text(value)
            case .boolean: converted = boolean(value)
            case .list: converted = list(value, strict: strict)
            case .items: converted = try items(value, label: label, strict: strict)
            }
            if let converted {
                out[key] = converted
            } else if strict {
                throw GlimpseError.badRequest(
                    "Invalid input for field/attribute \(key) of \(label). Value: '\(JSONSchemaValidator.repr(value))'.")
            }
        }
        return out
    }

    /// WSME's `int(value)`: numbers truncate, numeric text parses, booleans are 0 or 1.
    static func integer(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .int: return value
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int64(d.rounded(.towardZero))) : nil
        case .bool(let b): return .int(b ? 1 : 0)
        case .string(let s): return Int64(s.trimmingCharacters(in: .whitespaces)).map { .int($0) }
        default: return nil
        }
    }

    /// WSME's bytes attribute: text stays, numbers and booleans print as Python prints them,
    /// anything else becomes `null`.
    static func text(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string: value
        case .int(let i): .string(String(i))
        case .double(let d): .string(JSONSchemaValidator.pythonFloat(d))
        case .bool(let b): .string(b ? "True" : "False")
        default: .null
        }
    }

    /// WSME's unambiguous booleans.
    static func boolean(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .bool: return value
        case .int(let i): return .bool(i != 0)
        case .string(let s):
            if ["true", "t", "yes", "y", "on", "1"].contains(s) { return .bool(true) }
            if ["false", "f", "no", "n", "off", "0"].contains(s) { return .bool(false) }
            return nil
        default: return nil
        }
    }

    /// WSME's list of text: a list of strings (Glance fails on anything else in it).
    static func list(_ value: JSONValue, strict: Bool) -> JSONValue? {
        guard let items = value.arrayValue else { return nil }
        if strict, items.contains(where: { $0.stringValue == nil }) { return nil }
        return value
    }

    /// WSME's `ItemType`: `type` (mandatory) and `enum`.
    static func items(_ value: JSONValue, label: String, strict: Bool) throws -> JSONValue? {
        guard let o = value.objectValue else { return nil }
        let unknown = o.keys.filter { $0 != "type" && $0 != "enum" }
        if strict, !unknown.isEmpty {
            throw GlimpseError.badRequest("Unknown attribute for argument \(label).items: \(unknown.sorted().joined(separator: ", "))")
        }
        guard let type = o["type"] else {
            if strict { throw GlimpseError.badRequest("Invalid input for field/attribute type. Value: 'None'. Mandatory field missing.") }
            return nil
        }
        var out = JSONObject([("type", type)])
        if let e = o["enum"] {
            guard e == .null || list(e, strict: strict) != nil else { return nil }
            out["enum"] = e
        }
        return .object(out)
    }
}
