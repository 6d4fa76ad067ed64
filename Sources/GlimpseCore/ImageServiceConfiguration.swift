import GlimpseDomain
import GlimpseInspector
import GlimpsePolicy

/// What the image operations need to know from `glance-api.conf` (`[DEFAULT]` options of Glance).
public struct ImageServiceConfiguration: Sendable {
    /// `image_size_cap`: largest image accepted, in bytes (Glance: 1 TiB).
    public var imageSizeCap: Int64 = 1 << 40
    /// `hashing_algorithm` for `os_hash_value`.
    public var hashingAlgorithm = "sha512"
    /// `image_member_quota`.
    public var memberQuota = 128
    /// `image_property_quota`, `image_tag_quota`, and the format lists.
    public var attributes = ImageAttributes()
    /// `limit_param_default` and `api_limit_max` for lists.
    public var limitDefault = 25
    public var limitMax = 1000
    /// The operator's policy (Glance's defaults unless `policy.yaml` says otherwise).
    public var policy = ImagePolicy()
    /// `property_protection_file`, when configured.
    public var propertyProtections: PropertyProtections?

    /// Multi-store (`enabled_backends`): images show `stores`, uploads may pick one, and
    /// `/v2/info/stores` answers.
    public var multiStore = false
    /// What the operator configured about each store (discovery and location order).
    public var storeDetails: [StoreDetail] = []
    /// `enabled_import_methods` that Glimpse implements (so far `copy-image`).
    public var enabledImportMethods: [String] = []
    /// `[image_format]` `vmdk_allowed_types`, `require_image_format_match` and
    /// `gpt_safety_checks_nonfatal`: how uploads of `container_format=bare` are inspected.
    public var inspector = InspectorOptions()

    public init() {}
}

/// One configured store as discovery shows it: `store_description`, `weight` and the driver's
/// public settings (never credentials).
public struct StoreDetail: Sendable {
    public var id: String
    public var type: String
    public var description: String?
    public var weight: Int
    public var readOnly: Bool
    public var properties: [String: JSONValue]

    public init(id: String, type: String, description: String? = nil, weight: Int = 0, readOnly: Bool = false,
                properties: [String: JSONValue] = [:]) {
        self.id = id
        self.type = type
        self.description = description
        self.weight = weight
        self.readOnly = readOnly
        self.properties = properties
    }
}
