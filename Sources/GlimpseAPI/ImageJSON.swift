import Foundation
import GlimpseCatalog
import GlimpseDomain

/// The v2 wire form of images and members (reference §2.1): base fields always present, with
/// `null` when unset; additional properties only when set; links relative.
enum ImageJSON {
    /// Internal properties Glance never shows.
    static let hiddenProperties: Set<String> = ["os_glance_stage_host", "os_glance_hash_op_host"]

    static func render(_ image: Image, showStores: Bool) -> JSONValue {
        var o = JSONObject()
        for (key, value) in image.properties.sorted(by: { $0.key < $1.key }) where !hiddenProperties.contains(key) {
            o[key] = .string(value)
        }
        o["name"] = .optionalString(image.name)
        o["disk_format"] = .optionalString(image.diskFormat)
        o["container_format"] = .optionalString(image.containerFormat)
        o["visibility"] = .string(image.visibility.rawValue)
        o["size"] = .optionalInt(image.size)
        o["virtual_size"] = .optionalInt(image.virtualSize)
        o["status"] = .string(image.status.rawValue)
        o["checksum"] = .optionalString(image.checksum)
        o["protected"] = .bool(image.protected)
        o["min_ram"] = .int(Int64(image.minRam))
        o["min_disk"] = .int(Int64(image.minDisk))
        o["owner"] = .optionalString(image.owner)
        o["os_hidden"] = .bool(image.osHidden)
        o["os_hash_algo"] = .optionalString(image.osHashAlgo)
        o["os_hash_value"] = .optionalString(image.osHashValue)
        o["id"] = .string(image.id)
        o["created_at"] = .string(timestamp(image.createdAt))
        o["updated_at"] = .string(timestamp(image.updatedAt))
        o["tags"] = .array(image.tags.map { .string($0) })
        o["self"] = .string("/v2/images/\(image.id)")
        o["file"] = .string("/v2/images/\(image.id)/file")
        o["schema"] = .string("/v2/schemas/image")
        if showStores {
            let ids = image.locations.filter { $0.status == "active" }.compactMap(\.storeID)
            if !ids.isEmpty { o["stores"] = .string(ids.joined(separator: ",")) }
        }
        return .object(o)
    }

    static func render(_ member: ImageMember) -> JSONValue {
        .object(JSONObject([
            ("status", .string(member.status.rawValue)),
            ("created_at", .string(timestamp(member.createdAt))),
            ("updated_at", .string(timestamp(member.updatedAt))),
            ("image_id", .string(member.imageID)),
            ("member_id", .string(member.memberID)),
            ("schema", .string("/v2/schemas/member")),
        ]))
    }

    /// ISO 8601 to the second with `Z`, as Glance prints.
    static func timestamp(_ date: Date) -> String {
        let full = SQLTimestamp.format(date)  // YYYY-MM-DD HH:MM:SS.ffffff
        return String(full.prefix(10)) + "T" + String(full.dropFirst(11).prefix(8)) + "Z"
    }

    /// Parses the ISO 8601 forms clients send in time filters (`2016-04-18T21:38:54Z`, offsets, fractions).
    static func parseTimestamp(_ text: String) -> Date? {
        var s = text
        var offset = 0
        if s.hasSuffix("Z") || s.hasSuffix("z") {
            s.removeLast()
        } else if s.count > 19, let signIndex = s.lastIndex(where: { $0 == "+" || $0 == "-" }),
            s.distance(from: s.startIndex, to: signIndex) >= 19
        {
            let tz = s[s.index(after: signIndex)...].replacingOccurrences(of: ":", with: "")
            guard tz.count == 4, let hh = Int(tz.prefix(2)), let mm = Int(tz.suffix(2)) else { return nil }
            offset = (hh * 3600 + mm * 60) * (s[signIndex] == "+" ? 1 : -1)
            s = String(s[..<signIndex])
        }
        if s.count == 10 { s += "T00:00:00" }
        guard s.count >= 19 else { return nil }
        let chars = Array(s)
        guard chars[4] == "-", chars[7] == "-", chars[10] == "T" || chars[10] == " ", chars[13] == ":", chars[16] == ":" else {
            return nil
        }
        guard let date = SQLTimestamp.parse(s) else { return nil }
        return date.addingTimeInterval(TimeInterval(-offset))
    }
}
