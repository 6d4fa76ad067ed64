import Foundation
import GlimpseCore
import GlimpseDomain

/// The wire form of metadefs, as Glance's WSME models print them: keys in the models' order,
/// unset values left out (not `null`), times as `2026-01-01T00:00:00Z`, links relative.
enum MetadefJSON {
    static func namespaceLink(_ name: String) -> String { "/v2/metadefs/namespaces/\(name)" }

    static func namespace(_ detail: MetadefService.NamespaceDetail) -> JSONValue {
        let ns = detail.namespace
        var o = JSONObject([("namespace", .string(ns.namespace))])
        if let v = ns.displayName { o["display_name"] = .string(v) }
        if let v = ns.description { o["description"] = .string(v) }
        o["visibility"] = .string(ns.visibility)
        o["protected"] = .bool(ns.protected)
        o["owner"] = .string(ns.owner)
        o["created_at"] = .string(ImageJSON.timestamp(ns.createdAt))
        if let t = ns.updatedAt { o["updated_at"] = .string(ImageJSON.timestamp(t)) }
        if let associations = detail.associations {
            o["resource_type_associations"] = .array(associations.map { association($0, timestamps: !detail.echo) })
        }
        if let properties = detail.properties {
            o["properties"] = .object(JSONObject(properties.map { ($0.0, .object($0.1)) }))
        }
        if let objects = detail.objects {
            o["objects"] = .array(objects.map { object($0, in: ns.namespace, style: detail.echo ? .echo : .stored) })
        }
        if let tags = detail.tags {
            o["tags"] = .array(tags.map { .object(JSONObject([("name", .string($0))])) })
        }
        o["self"] = .string(namespaceLink(ns.namespace))
        o["schema"] = .string("/v2/schemas/metadefs/namespace")
        return .object(o)
    }

    static func association(_ a: MetadefResourceTypeAssociation, timestamps: Bool = true) -> JSONValue {
        var o = JSONObject([("name", .string(a.name))])
        if let v = a.prefix { o["prefix"] = .string(v) }
        if let v = a.propertiesTarget { o["properties_target"] = .string(v) }
        if timestamps {
            o["created_at"] = .string(ImageJSON.timestamp(a.createdAt))
            if let t = a.updatedAt { o["updated_at"] = .string(ImageJSON.timestamp(t)) }
        }
        return .object(o)
    }

    enum ObjectStyle {
        /// Read from the catalog: `required` and `properties` always shown.
        case stored
        /// The answer to a create or update: the fields as sent, plus times and links.
        case written
        /// Inside a namespace create's answer: the fields as sent, nothing else.
        case echo
    }

    static func object(_ object: MetadefObject, in namespace: String, style: ObjectStyle) -> JSONValue {
        var o = JSONObject([("name", .string(object.name))])
        if style == .stored {
            o["required"] = .array((object.required ?? []).map { .string($0) })
        } else if let required = object.required {
            o["required"] = .array(required.map { .string($0) })
        }
        if let v = object.description { o["description"] = .string(v) }
        if style == .stored || !object.properties.pairs.isEmpty { o["properties"] = .object(object.properties) }
        guard style != .echo else { return .object(o) }
        o["created_at"] = .string(ImageJSON.timestamp(object.createdAt))
        if let t = object.updatedAt { o["updated_at"] = .string(ImageJSON.timestamp(t)) }
        o["self"] = .string("\(namespaceLink(namespace))/objects/\(object.name)")
        o["schema"] = .string("/v2/schemas/metadefs/object")
        return .object(o)
    }

    static func tag(_ tag: MetadefTag) -> JSONValue {
        var o = JSONObject([("name", .string(tag.name)), ("created_at", .string(ImageJSON.timestamp(tag.createdAt)))])
        if let t = tag.updatedAt { o["updated_at"] = .string(ImageJSON.timestamp(t)) }
        return .object(o)
    }

    static func resourceType(_ type: MetadefResourceType) -> JSONValue {
        var o = JSONObject([("name", .string(type.name)), ("created_at", .string(ImageJSON.timestamp(type.createdAt)))])
        if let t = type.updatedAt { o["updated_at"] = .string(ImageJSON.timestamp(t)) }
        return .object(o)
    }

    /// Python's `urllib.parse.urlencode` (`quote_plus`), for the list links Glance builds.
    static func urlencode(_ pairs: [(String, String)]) -> String {
        pairs.map { quotePlus($0.0) + "=" + quotePlus($0.1) }.joined(separator: "&")
    }

    static func quotePlus(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
