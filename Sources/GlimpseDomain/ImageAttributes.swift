/// Which image attributes a caller may set and how their values are checked: the rules shared
/// by create (`POST /v2/images`) and JSON-patch (reference §1.3, §1.4, §2.1).
public struct ImageAttributes: Sendable {
    /// Set by the server only: 403 "read-only".
    public static let readOnly: Set<String> = [
        "id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "created_at",
        "updated_at", "direct_url", "self", "file", "schema", "stores",
    ]
    /// Never settable by anyone: 403 "reserved".
    public static let reserved: Set<String> = ["location", "deleted", "deleted_at"]
    /// Core attributes a caller may set (subject to policy and status).
    public static let settable: Set<String> = [
        "name", "visibility", "protected", "os_hidden", "owner", "min_disk", "min_ram", "container_format",
        "disk_format", "tags",
    ]
    /// Every core field that shows up in an image document.
    public static var base: Set<String> { readOnly.union(settable).union(["locations"]) }

    public var formats: ImageFormats
    public var propertyQuota: Int
    public var tagQuota: Int
    /// Property protections (`property_protection_file`): whether `principal` may create,
    /// read, update or delete the additional property; nil when no protections are configured.
    public var mayAccessProperty: (@Sendable (_ op: PropertyOperation, _ key: String, _ principal: Principal) -> Bool)?

    /// Whether `principal` may give `image` the visibility (publicize_image, communitize_image);
    /// the image service sets it from the operator's policy. The default allows public only to admins.
    public var mayChangeVisibility: @Sendable (_ to: Visibility, _ image: Image, _ principal: Principal) -> Bool = { v, _, p in
        v != .public || p.isAdmin
    }

    public init(formats: ImageFormats = .init(), propertyQuota: Int = 128, tagQuota: Int = 128) {
        self.formats = formats
        self.propertyQuota = propertyQuota
        self.tagQuota = tagQuota
    }

    public static func isReservedKey(_ key: String) -> Bool {
        reserved.contains(key) || key.hasPrefix("os_glance")
    }

    /// Refuses keys nobody may write, with Glance's codes.
    public func checkWritable(_ key: String) throws {
        if Self.readOnly.contains(key) {
            throw GlimpseError.forbidden("Attribute '\(key)' is read-only.")
        }
        if Self.isReservedKey(key) {
            throw GlimpseError.forbidden("Attribute '\(key)' is reserved.")
        }
        if key == "locations" {
            throw GlimpseError.forbidden("It's not allowed to add or replace locations if locations are invisible.")
        }
        if key.isEmpty || key.count > 255 {
            throw GlimpseError.badRequest("Property names must be between 1 and 255 characters long.")
        }
    }

    /// Sets one attribute (core or additional) on `image`, checking its value and who may set it.
    /// `isCreate` relaxes the queued-only rule for formats (a new image is queued anyway).
    public func set(_ key: String, to value: JSONValue, on image: inout Image, principal: Principal) throws {
        try checkWritable(key)
        switch key {
        case "name":
            switch value {
            case .null: image.name = nil
            case .string(let s):
                guard s.count <= 255 else { throw GlimpseError.badRequest("Name is too long (255 characters at most).") }
                image.name = s
            default: throw invalidType(key, "a string or null")
            }
        case "visibility":
            guard let s = value.stringValue, let v = Visibility(rawValue: s) else {
                throw GlimpseError.badRequest("Invalid visibility value: \(value.serialized())")
            }
            if v != image.visibility, !mayChangeVisibility(v, image, principal) {
                throw GlimpseError.forbidden("You are not authorized to set the visibility of an image to \(v.rawValue).")
            }
            image.visibility = v
        case "protected":
            guard let b = value.boolValue else { throw invalidType(key, "a boolean") }
            image.protected = b
        case "os_hidden":
            guard let b = value.boolValue else { throw invalidType(key, "a boolean") }
            image.osHidden = b
        case "min_disk", "min_ram":
            guard case .int(let i) = value, i >= 0, i <= Int64(Int32.max) else {
                throw GlimpseError.badRequest("Invalid value for '\(key)': it must be an integer between 0 and 2147483647.")
            }
            if key == "min_disk" { image.minDisk = Int(i) } else { image.minRam = Int(i) }
        case "container_format", "disk_format":
            let allowed = key == "disk_format" ? formats.diskFormats : formats.containerFormats
            let newValue: String?
            switch value {
            case .null: newValue = nil
            case .string(let s) where allowed.contains(s): newValue = s
            default:
                throw GlimpseError.badRequest(
                    "Invalid value \(value.serialized()) for '\(key)'; valid values are: \(allowed.joined(separator: ", ")).")
            }
            let current = key == "disk_format" ? image.diskFormat : image.containerFormat
            if newValue != current, image.status != .queued, image.status != .importing {
                throw GlimpseError.forbidden("Attribute \(key) can be only replaced for a queued image.")
            }
            if key == "disk_format" { image.diskFormat = newValue } else { image.containerFormat = newValue }
        case "owner":
            let newOwner: String?
            switch value {
            case .null: newOwner = nil
            case .string(let s) where s.count <= 255: newOwner = s
            default: throw invalidType(key, "a string of at most 255 characters or null")
            }
            if newOwner != image.owner, !principal.isAdmin {
                throw GlimpseError.forbidden("Owner can't be updated by non admin.")
            }
            image.owner = newOwner
        case "tags":
            guard let list = value.arrayValue else { throw invalidType(key, "a list of strings") }
            var tags: [String] = []
            for item in list {
                guard let t = item.stringValue else { throw invalidType(key, "a list of strings") }
                try Self.checkTag(t)
                if !tags.contains(t) { tags.append(t) }
            }
            guard tags.count <= tagQuota else {
                throw GlimpseError.tooLarge("Maximum number of tags exceeded (\(tagQuota)).")
            }
            image.tags = tags
        default:
            guard let s = value.stringValue else {
                throw GlimpseError.badRequest("Additional property '\(key)' must be a string.")
            }
            try checkProperty(image.properties[key] == nil ? .create : .update, key, principal)
            if image.properties[key] == nil, visiblePropertyCount(image) >= propertyQuota {
                throw GlimpseError.tooLarge("Maximum number of image properties exceeded (\(propertyQuota)).")
            }
            image.properties[key] = s
        }
    }

    /// Throws 403 when property protections forbid `op` on `key`.
    public func checkProperty(_ op: PropertyOperation, _ key: String, _ principal: Principal) throws {
        if let mayAccessProperty, !mayAccessProperty(op, key, principal) {
            throw GlimpseError.forbidden("Property '\(key)' is protected: you may not \(op.rawValue) it.")
        }
    }

    /// The image as `principal` may read it: properties it may not read are left out.
    public func readable(_ image: Image, principal: Principal) -> Image {
        guard let mayAccessProperty else { return image }
        var copy = image
        copy.properties = image.properties.filter { key, _ in key.hasPrefix("os_glance") || mayAccessProperty(.read, key, principal) }
        return copy
    }

    public static func checkTag(_ tag: String) throws {
        guard !tag.isEmpty, tag.count <= 255 else {
            throw GlimpseError.badRequest("Tags must be between 1 and 255 characters long.")
        }
    }

    func visiblePropertyCount(_ image: Image) -> Int {
        image.properties.keys.filter { !$0.hasPrefix("os_glance") }.count
    }

    func invalidType(_ key: String, _ expected: String) -> GlimpseError {
        GlimpseError.badRequest("Invalid value for '\(key)': expected \(expected).")
    }
}

/// The four operations property protections govern.
public enum PropertyOperation: String, Sendable, CaseIterable {
    case create, read, update, delete
}
