import Foundation
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
    /// `enabled_import_methods` offered (copy-image only with multi-store).
    public var enabledImportMethods: [String] = []
    /// `delayed_delete`: deleting an image with data leaves it `pending_delete` for the scrubber.
    public var delayedDelete = false

    /// `[task] task_time_to_live`: how long finished tasks stay listed (Glance: 48 hours).
    public var taskTimeToLive: TimeInterval = 48 * 3600
    /// Seconds without a heartbeat after which a `processing` task is taken over by another
    /// worker (its node is presumed dead).
    public var taskClaimTimeout: TimeInterval = 60
    /// Times a task is started before an interrupted one fails for good.
    public var taskMaxAttempts = 3
    /// `[taskflow_executor] max_workers`: tasks this node runs at once.
    public var taskWorkers = 4
    /// `[image_import_opts] image_import_plugins`.
    public var importPlugins: [String] = []
    /// `[image_conversion] output_format`.
    public var conversionOutputFormat = "raw"
    /// `[inject_metadata_properties] inject` and `ignore_user_roles`.
    public var injectProperties: [(key: String, value: String)] = []
    public var injectIgnoreRoles: [String] = ["admin"]
    /// `qemu-img` (path or name) for the conversion plugin.
    public var qemuImg = "qemu-img"
    /// `worker_self_reference_url`, recorded as `os_glance_stage_host` on staged images.
    public var workerSelfReferenceURL: String?

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
