import Foundation
import GlimpseCatalog
import GlimpseDomain

/// The v2 wire form of images and members (reference §2.1): base fields always present, with
/// `null` when unset; additional properties only when set; links relative.
enum ImageJSON {
    /// Internal properties Glance never shows.
    static let hiddenProperties: Set<String> = ["os_glance_stage_host", "os_glance_hash_op_host"]

    static func render(_ image: Image, showStores: Bool) -> JSONValue {
        var pairs: [(String, JSONValue)] = []
        pairs.reserveCapacity(image.properties.count + 23)
        // Additional properties first (sorted), then the base fields; a base field's name is
        // never a property's (the schema reserves them), and it would win if it were.
        for (key, value) in image.properties.sorted(by: { $0.key < $1.key })
        where !hiddenProperties.contains(key) && !baseFields.contains(key) {
            pairs.append((key, .string(value)))
        }
        pairs.append(("name", .optionalString(image.name)))
        pairs.append(("disk_format", .optionalString(image.diskFormat)))
        pairs.append(("container_format", .optionalString(image.containerFormat)))
        pairs.append(("visibility", .string(image.visibility.rawValue)))
        pairs.append(("size", .optionalInt(image.size)))
        pairs.append(("virtual_size", .optionalInt(image.virtualSize)))
        pairs.append(("status", .string(image.status.rawValue)))
        pairs.append(("checksum", .optionalString(image.checksum)))
        pairs.append(("protected", .bool(image.protected)))
        pairs.append(("min_ram", .int(Int64(image.minRam))))
        pairs.append(("min_disk", .int(Int64(image.minDisk))))
        pairs.append(("owner", .optionalString(image.owner)))
        pairs.append(("os_hidden", .bool(image.osHidden)))
        pairs.append(("os_hash_algo", .optionalString(image.osHashAlgo)))
        pairs.append(("os_hash_value", .optionalString(image.osHashValue)))
        pairs.append(("id", .string(image.id)))
        pairs.append(("created_at", .string(timestamp(image.createdAt))))
        pairs.append(("updated_at", .string(timestamp(image.updatedAt))))
        pairs.append(("tags", .array(image.tags.map { .string($0) })))
        pairs.append(("self", .string("/v2/images/\(image.id)")))
        pairs.append(("file", .string("/v2/images/\(image.id)/file")))
        pairs.append(("schema", .string("/v2/schemas/image")))
        if showStores {
            let ids = image.locations.filter { $0.status == "active" }.compactMap(\.storeID)
            if !ids.isEmpty { pairs.append(("stores", .string(ids.joined(separator: ",")))) }
        }
        return .object(JSONObject(pairs))
    }

    /// The fields `render` always writes (and `stores`).
    static let baseFields: Set<String> = [
        "name", "disk_format", "container_format", "visibility", "size", "virtual_size", "status", "checksum",
        "protected", "min_ram", "min_disk", "owner", "os_hidden", "os_hash_algo", "os_hash_value", "id", "created_at",
        "updated_at", "tags", "self", "file", "schema", "stores",
    ]

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
        SQLTimestamp.iso8601Seconds(date)
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
