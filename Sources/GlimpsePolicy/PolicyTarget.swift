import GlimpseDomain

/// What a check's `%(key)s` substitutions read: a target dict, or a view that answers the
/// same keys.
public protocol PolicyTargetValues {
    subscript(key: String) -> String? { get }
}

extension Dictionary: PolicyTargetValues where Key == String, Value == String {}

/// The target dicts Glance passes to its policy checks, built from Glimpse's types.
///
/// Values are text, as oslo.policy's `%(key)s` substitution would print them. Keys whose value
/// would be Python's `None` are left out, so a check on them is `false` (in Glance, `None`
/// prints as the string `None`, which could match a credential that is also missing).
public enum PolicyTarget {
    /// An existing image, as Glance's `ImageTarget` presents it: `project_id` and `owner` are
    /// the owner, `image_id` and `id` the image's ID, plus `visibility`, `status`, `name`,
    /// `protected`, `os_hidden`, formats and sizes, and the additional properties by name (the
    /// core fields win over a property of the same name).
    ///
    /// - Parameters:
    ///   - memberID: Glance's `member_id`: the caller's project when the caller reached a
    ///     *shared* image through its membership (Glance's database layer sets it exactly then:
    ///     shared image, caller not the owner). Leave it `nil` otherwise.
    ///   - memberStatus: the membership's status (`pending`, `accepted`, `rejected`), if any.
    public static func image(_ image: Image, memberID: String? = nil, memberStatus: String? = nil) -> ImageValues {
        ImageValues(image: image, memberID: memberID, memberStatus: memberStatus)
    }

    /// An image's target, read key by key as a check asks (a check reads two or three keys;
    /// building the whole dict for each check cost more than evaluating it).
    public struct ImageValues: PolicyTargetValues, Sendable {
        public let image: Image
        public var memberID: String?
        public var memberStatus: String?

        public subscript(key: String) -> String? {
            switch key {
            case "image_id", "id": image.id
            case "owner", "project_id": image.owner
            case "visibility": image.visibility.rawValue
            case "status": image.status.rawValue
            case "name": image.name
            case "protected": image.protected ? "True" : "False"
            case "os_hidden": image.osHidden ? "True" : "False"
            case "disk_format": image.diskFormat
            case "container_format": image.containerFormat
            case "checksum": image.checksum
            case "os_hash_algo": image.osHashAlgo
            case "os_hash_value": image.osHashValue
            case "size": image.size.map(String.init)
            case "virtual_size": image.virtualSize.map(String.init)
            case "min_disk": String(image.minDisk)
            case "min_ram": String(image.minRam)
            case "member", "member_id": memberID
            case "member_status": memberStatus
            default: image.properties[key]
            }
        }
    }

    /// An image about to be created (`add_image`, and the visibility checks on create):
    /// Glance's dict of `project_id` and `owner` (the requested owner, else the caller's
    /// project) and `visibility` (the requested one, else `private`).
    public static func newImage(owner: String?, visibility: Visibility?, principal: Principal) -> [String: String] {
        var target = ["visibility": (visibility ?? .private).rawValue]
        if let owner = owner ?? principal.projectID {
            target["project_id"] = owner
            target["owner"] = owner
        }
        return target
    }

    /// Calls with no particular resource (`get_images`, `get_metadef_namespaces`, metadef and
    /// member calls without an image): Glance's `{"project_id": <caller's project>}`.
    public static func project(of principal: Principal) -> [String: String] {
        principal.projectID.map { ["project_id": $0] } ?? [:]
    }

    /// A metadef namespace (and its objects, properties, tags): `project_id` is the
    /// namespace's owner, `visibility` its `public`/`private`.
    public static func namespace(owner: String?, visibility: String) -> [String: String] {
        var target = ["visibility": visibility]
        if let owner { target["project_id"] = owner }
        return target
    }
}
