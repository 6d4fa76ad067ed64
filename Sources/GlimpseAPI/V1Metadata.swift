import Foundation
import GlimpseCatalog
import GlimpseDomain
import HTTPTypes
import Hummingbird

/// Image API v1's wire form: `x-image-meta-*` request headers in, JSON and headers out
/// (reference §3.2), mapped onto the same image model as v2 (`is_public` ↔ `visibility`).
struct V1Metadata {
    /// Juno's whitelist; any other `x-image-meta-*` header is a 400.
    static let allowed: Set<String> = [
        "name", "id", "store", "disk_format", "container_format", "size", "checksum", "is_public", "protected",
        "min_ram", "min_disk", "owner", "location", "copy_from", "uri", "status", "created_at", "updated_at",
        "deleted_at", "deleted",
    ]

    var meta: [String: String] = [:]
    var properties: [String: String] = [:]

    /// Reads the `x-image-meta-*` headers of a request.
    init(headers: HTTPFields) throws {
        for field in headers {
            let name = field.name.canonicalName
            guard name.hasPrefix("x-image-meta-") else { continue }
            let rest = String(name.dropFirst("x-image-meta-".count))
            if rest.hasPrefix("property-") {
                properties[String(rest.dropFirst("property-".count))] = field.value
                continue
            }
            let key = String(rest.map { $0 == "-" ? "_" : $0 })
            guard Self.allowed.contains(key) else { throw GlimpseError.badRequest("Bad header: \(field.name.rawName)") }
            meta[key] = field.value.trimmingCharacters(in: .whitespaces)
        }
    }

    /// Reads a registry API image document (`{"image": {...}}`'s inner object): the same fields
    /// as the v1 headers, with `properties` as an object.
    init(registryImage o: JSONObject) throws {
        for (key, value) in o.pairs {
            if key == "properties" {
                guard let props = value.objectValue else { throw GlimpseError.badRequest("properties must be an object") }
                for (k, v) in props.pairs {
                    guard let s = v.stringValue else { throw GlimpseError.badRequest("Property \(k) must be a string.") }
                    properties[k] = s
                }
                continue
            }
            guard Self.allowed.contains(key) else { throw GlimpseError.badRequest("Unknown image attribute '\(key)'.") }
            switch value {
            case .null: continue
            case .string(let s): meta[key] = s
            case .bool(let b): meta[key] = b ? "true" : "false"
            case .int(let i): meta[key] = String(i)
            default: throw GlimpseError.badRequest("Invalid value for '\(key)'.")
            }
        }
    }

    /// oslo's `bool_from_string`, not strict.
    static func bool(_ s: String) -> Bool { ["1", "t", "true", "on", "y", "yes"].contains(s.lowercased()) }

    func integer(_ key: String) throws -> Int64? {
        guard let s = meta[key] else { return nil }
        guard let n = Int64(s), n >= 0 else { throw GlimpseError.badRequest("Invalid \(key): '\(s)' must be a non-negative integer.") }
        return n
    }

    var declaredSize: Int64? { get throws { try integer("size") } }
    var checksum: String? { meta["checksum"] }
    /// `x-image-meta-location`: external data registered without an upload.
    var location: String? { meta["location"] }

    /// The settable fields in v2 form, for `ImageService.create` / `updateV1`.
    /// `forUpdate`: refuse what is immutable on PUT (status always; size and checksum once active).
    func fields(current: Image? = nil) throws -> JSONObject {
        for key in ["copy_from", "uri"] where meta[key] != nil {
            throw GlimpseError.badRequest("x-image-meta-\(key) is not supported; use x-glance-api-copy-from or x-image-meta-location.")
        }
        if meta["status"] != nil { throw GlimpseError.forbidden("Forbidden to modify status of the image.") }
        if let current, current.status != .queued {
            if let s = try integer("size"), s != current.size {
                throw GlimpseError.forbidden("Forbidden to modify size of an active image.")
            }
            if let c = meta["checksum"], c != current.checksum {
                throw GlimpseError.forbidden("Forbidden to modify checksum of an active image.")
            }
        }
        if let current, let id = meta["id"], id != current.id { throw GlimpseError.forbidden("Forbidden to modify id of the image.") }
        var o = JSONObject()
        if let v = meta["name"] { o["name"] = .string(v) }
        if current == nil, let v = meta["id"] { o["id"] = .string(v) }
        if let v = meta["disk_format"] { o["disk_format"] = .string(v) }
        if let v = meta["container_format"] { o["container_format"] = .string(v) }
        if let v = meta["owner"] { o["owner"] = .string(v) }
        if let v = meta["protected"] { o["protected"] = .bool(Self.bool(v)) }
        if let v = try integer("min_ram") { o["min_ram"] = .int(v) }
        if let v = try integer("min_disk") { o["min_disk"] = .int(v) }
        _ = try integer("size")
        if let v = meta["is_public"] {
            if Self.bool(v) {
                o["visibility"] = .string("public")
            } else if current == nil || current?.visibility == .public {
                // v1 had no visibility: a non-public image is one its owner may share.
                o["visibility"] = .string("shared")
            }
        } else if current == nil {
            o["visibility"] = .string("shared")
        }
        return o
    }

    // MARK: output

    static func timestamp(_ d: Date?) -> String? {
        guard let d else { return nil }
        let full = SQLTimestamp.format(d)
        return String(full.prefix(10)) + "T" + String(full.dropFirst(11))
    }

    static func json(_ image: Image) -> JSONValue {
        var props = JSONObject()
        for (k, v) in image.properties.sorted(by: { $0.key < $1.key }) where !k.hasPrefix("os_glance") { props[k] = .string(v) }
        return .object(JSONObject([
            ("status", .string(image.status.rawValue)),
            ("deleted_at", .optionalString(timestamp(image.deletedAt))),
            ("name", .optionalString(image.name)),
            ("deleted", .bool(image.status == .deleted)),
            ("container_format", .optionalString(image.containerFormat)),
            ("created_at", .optionalString(timestamp(image.createdAt))),
            ("disk_format", .optionalString(image.diskFormat)),
            ("updated_at", .optionalString(timestamp(image.updatedAt))),
            ("id", .string(image.id)),
            ("owner", .optionalString(image.owner)),
            ("protected", .bool(image.protected)),
            ("min_ram", .int(Int64(image.minRam))),
            ("checksum", .optionalString(image.checksum)),
            ("min_disk", .int(Int64(image.minDisk))),
            ("is_public", .bool(image.visibility == .public)),
            ("virtual_size", .optionalInt(image.virtualSize)),
            ("size", .int(image.size ?? 0)),
            ("properties", .object(props)),
        ]))
    }

    static func summary(_ image: Image) -> JSONValue {
        .object(JSONObject([
            ("id", .string(image.id)), ("name", .optionalString(image.name)),
            ("disk_format", .optionalString(image.diskFormat)), ("container_format", .optionalString(image.containerFormat)),
            ("checksum", .optionalString(image.checksum)), ("size", .int(image.size ?? 0)),
        ]))
    }

    /// Every field as `x-image-meta-*` headers (None left out), properties as `x-image-meta-property-*`.
    static func headers(_ image: Image) -> HTTPFields {
        var h = HTTPFields()
        func put(_ name: String, _ value: String?) {
            guard let value, let n = HTTPField.Name(name) else { return }
            h[n] = String(value.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
        }
        func py(_ b: Bool) -> String { b ? "True" : "False" }
        put("x-image-meta-id", image.id)
        put("x-image-meta-name", image.name)
        put("x-image-meta-disk_format", image.diskFormat)
        put("x-image-meta-container_format", image.containerFormat)
        put("x-image-meta-size", String(image.size ?? 0))
        put("x-image-meta-checksum", image.checksum)
        put("x-image-meta-status", image.status.rawValue)
        put("x-image-meta-is_public", py(image.visibility == .public))
        put("x-image-meta-protected", py(image.protected))
        put("x-image-meta-min_ram", String(image.minRam))
        put("x-image-meta-min_disk", String(image.minDisk))
        put("x-image-meta-owner", image.owner)
        put("x-image-meta-created_at", timestamp(image.createdAt))
        put("x-image-meta-updated_at", timestamp(image.updatedAt))
        put("x-image-meta-deleted", py(image.status == .deleted))
        put("x-image-meta-deleted_at", timestamp(image.deletedAt))
        put("x-image-meta-virtual_size", image.virtualSize.map { String($0) })
        for (k, v) in image.properties.sorted(by: { $0.key < $1.key }) where !k.hasPrefix("os_glance") {
            put("x-image-meta-property-\(k)", v)
        }
        if let checksum = image.checksum { h[.eTag] = checksum }
        return h
    }
}
