import Foundation
import GlimpseAPI
import GlimpseCore
import GlimpseDomain
import GlimpseInspector
import GlimpseKeystone
import GlimpseStore
import GlimpseStoreDrivers
import NIOCore

/// Every option Glimpse reads, with Glance's section and name, its command-line flag and its
/// environment variable. Precedence: default < configuration file < environment < flag.
public struct OptionSpec: Sendable {
    public let key: String  // "section.name" as in glance-api.conf
    public let defaultValue: String?
    public let help: String

    /// `--bind-port` for `DEFAULT.bind_port`, `--filesystem-store-datadir` for `glance_store.filesystem_store_datadir`.
    public var flag: String { String(key.split(separator: ".").last!.map { $0 == "_" ? "-" : $0 }) }
    /// `GLIMPSE_BIND_PORT`, `GLIMPSE_FILESYSTEM_STORE_DATADIR`.
    public var environmentVariable: String { "GLIMPSE_" + key.split(separator: ".").last!.uppercased() }
}

public enum Options {
    public static let all: [OptionSpec] = [
        .init(key: "DEFAULT.bind_host", defaultValue: "0.0.0.0", help: "Address to listen on."),
        .init(key: "DEFAULT.bind_port", defaultValue: "9292", help: "Port to listen on (0 picks a free one)."),
        .init(key: "database.connection", defaultValue: "sqlite:///data/glimpse.db",
              help: "Catalog database URL (sqlite:///relative.db, sqlite:////absolute.db, postgresql://user:pass@host:port/db)."),
        .init(key: "database.max_pool_size", defaultValue: "10", help: "PostgreSQL: connections each node opens at most."),
        .init(key: "database.glimpse_statement_timeout", defaultValue: "30000",
              help: "PostgreSQL: milliseconds a catalog statement may run before it is cancelled (503)."),
        .init(key: "glance_store.default_store", defaultValue: "file", help: "Store for new image data (file)."),
        .init(key: "glance_store.filesystem_store_datadir", defaultValue: "data/images",
              help: "Directory of the filesystem store."),
        .init(key: "DEFAULT.enabled_backends", defaultValue: nil,
              help: "Multi-store: name:type pairs (e.g. fs:file); each [name] section configures one store."),
        .init(key: "glance_store.default_backend", defaultValue: nil, help: "Multi-store: the backend for new data."),
        .init(key: "DEFAULT.image_size_cap", defaultValue: "1099511627776", help: "Largest image accepted, in bytes."),
        .init(key: "DEFAULT.hashing_algorithm", defaultValue: "sha512", help: "Algorithm of os_hash_value (sha512, sha384, sha256)."),
        .init(key: "DEFAULT.image_member_quota", defaultValue: "128", help: "Members per image."),
        .init(key: "DEFAULT.image_property_quota", defaultValue: "128", help: "Additional properties per image."),
        .init(key: "DEFAULT.image_tag_quota", defaultValue: "128", help: "Tags per image."),
        .init(key: "DEFAULT.limit_param_default", defaultValue: "25", help: "Default page size of lists."),
        .init(key: "DEFAULT.api_limit_max", defaultValue: "1000", help: "Largest page size of lists."),
        .init(key: "image_format.disk_formats", defaultValue: ImageFormats.defaultDiskFormats.joined(separator: ","),
              help: "Allowed disk_format values."),
        .init(key: "image_format.container_formats", defaultValue: ImageFormats.defaultContainerFormats.joined(separator: ","),
              help: "Allowed container_format values."),
        .init(key: "image_format.vmdk_allowed_types", defaultValue: "streamOptimized,monolithicSparse",
              help: "VMDK createTypes accepted by the format inspector (empty: no VMDK)."),
        .init(key: "image_format.require_image_format_match", defaultValue: "true",
              help: "Refuse bare uploads whose detected format differs from disk_format (415)."),
        .init(key: "image_format.gpt_safety_checks_nonfatal", defaultValue: "",
              help: "gpt safety checks (mbr, gptmbr) that only warn."),
        .init(key: "DEFAULT.auth_strategy", defaultValue: "noauth", help: "noauth or keystone."),
        .init(key: "paste_deploy.flavor", defaultValue: nil,
              help: "Glance's pipeline flavor: keystone, keystone+caching, keystone+cachemanagement mean Keystone auth."),
        .init(key: "keystone_authtoken.auth_url", defaultValue: nil, help: "Keystone URL tokens are validated against."),
        .init(key: "keystone_authtoken.www_authenticate_uri", defaultValue: nil, help: "Keystone URL named in 401 answers."),
        .init(key: "keystone_authtoken.username", defaultValue: nil, help: "The image service's own Keystone user."),
        .init(key: "keystone_authtoken.password", defaultValue: nil, help: "Its password."),
        .init(key: "keystone_authtoken.project_name", defaultValue: "service", help: "Its project."),
        .init(key: "keystone_authtoken.user_domain_name", defaultValue: "Default", help: "Its user's domain."),
        .init(key: "keystone_authtoken.project_domain_name", defaultValue: "Default", help: "Its project's domain."),
        .init(key: "keystone_authtoken.token_cache_time", defaultValue: "300",
              help: "Seconds a validated token is trusted before Keystone is asked again."),
        .init(key: "keystone_authtoken.service_token_roles", defaultValue: "service",
              help: "Roles an X-Service-Token must carry (any of them)."),
        .init(key: "keystone_authtoken.http_connect_timeout", defaultValue: "5", help: "Seconds to connect to Keystone."),
        .init(key: "keystone_authtoken.http_request_timeout", defaultValue: "10",
              help: "Seconds Keystone has to answer before requests get 503."),
        .init(key: "oslo_policy.policy_file", defaultValue: "policy.yaml",
              help: "Policy overrides (YAML or JSON), relative to the configuration file's directory."),
        .init(key: "oslo_policy.policy_dirs", defaultValue: "policy.d", help: "Directories of further policy files."),
        .init(key: "DEFAULT.property_protection_file", defaultValue: nil, help: "Property protections (INI of regex sections)."),
        .init(key: "DEFAULT.property_protection_rule_format", defaultValue: "roles", help: "roles or policies."),
        .init(key: "DEFAULT.noauth_default_project", defaultValue: "admin",
              help: "noauth: project of callers that send no X-Project-Id."),
        .init(key: "DEFAULT.enabled_import_methods", defaultValue: "glance-direct,web-download,copy-image",
              help: "Import methods offered (copy-image only with enabled_backends; glance-download is opt-in)."),
        .init(key: "DEFAULT.node_staging_uri", defaultValue: "file://data/staging",
              help: "Staging area for glance-direct and web-download (file://PATH; relative paths start at the working directory)."),
        .init(key: "DEFAULT.worker_self_reference_url", defaultValue: nil,
              help: "This node's URL, recorded on images it staged (os_glance_stage_host)."),
        .init(key: "task.task_time_to_live", defaultValue: "48", help: "Hours a finished task stays listed."),
        .init(key: "task.glimpse_claim_timeout", defaultValue: "60",
              help: "Seconds without a heartbeat after which another worker takes a running task over (its node died)."),
        .init(key: "task.glimpse_max_attempts", defaultValue: "3",
              help: "Times an interrupted task is started before it fails for good."),
        .init(key: "taskflow_executor.max_workers", defaultValue: "4", help: "Tasks this node runs at once."),
        .init(key: "image_import_opts.image_import_plugins", defaultValue: "[]",
              help: "Import plugins, in order: image_decompression, image_conversion, inject_image_metadata, no_op."),
        .init(key: "image_conversion.output_format", defaultValue: "raw", help: "Format image_conversion converts to (raw, qcow2, vmdk)."),
        .init(key: "image_conversion.glimpse_qemu_img", defaultValue: "qemu-img", help: "The qemu-img program image_conversion runs."),
        .init(key: "inject_metadata_properties.inject", defaultValue: nil,
              help: "inject_image_metadata: key:value pairs added to imported images."),
        .init(key: "inject_metadata_properties.ignore_user_roles", defaultValue: "admin",
              help: "inject_image_metadata: roles whose imports are left alone."),
        .init(key: "DEFAULT.sqlite_pool_size", defaultValue: "4", help: "SQLite connections."),
        .init(key: "DEFAULT.delayed_delete", defaultValue: "false",
              help: "Deleting an image with data leaves it pending_delete; the scrubber deletes the data after scrub_time."),
        .init(key: "DEFAULT.scrub_time", defaultValue: "0", help: "Seconds a pending_delete image waits before its data is deleted."),
        .init(key: "DEFAULT.wakeup_time", defaultValue: "300", help: "Seconds between scrubber passes (serve, scrub --daemon)."),
        .init(key: "DEFAULT.scrub_pool_size", defaultValue: "1", help: "Images the scrubber deletes at the same time."),
        .init(key: "DEFAULT.glimpse_scrubber_in_api", defaultValue: "true",
              help: "With delayed_delete, glimpse serve runs the scrubber itself (no separate daemon needed)."),
        .init(key: "import_filtering_opts.allowed_schemes", defaultValue: "http,https",
              help: "web-download: schemes allowed (when set, disallowed_schemes is ignored)."),
        .init(key: "import_filtering_opts.disallowed_schemes", defaultValue: "", help: "web-download: schemes refused."),
        .init(key: "import_filtering_opts.allowed_hosts", defaultValue: "",
              help: "web-download: hosts allowed (when set, disallowed_hosts is ignored); a host listed here may be loopback or private."),
        .init(key: "import_filtering_opts.disallowed_hosts", defaultValue: "", help: "web-download: hosts refused."),
        .init(key: "import_filtering_opts.allowed_ports", defaultValue: "80,443",
              help: "web-download: ports allowed (when set, disallowed_ports is ignored)."),
        .init(key: "import_filtering_opts.disallowed_ports", defaultValue: "", help: "web-download: ports refused."),
        .init(key: "import_filtering_opts.glimpse_allow_private_networks", defaultValue: "false",
              help: "web-download: allow private addresses (RFC 1918, 100.64/10, fc00::/7); Glance always allows them."),
        .init(key: "import_filtering_opts.glimpse_connect_timeout", defaultValue: "30", help: "web-download: seconds to connect."),
        .init(key: "import_filtering_opts.glimpse_read_timeout", defaultValue: "60",
              help: "web-download: seconds without data before a connection counts as stalled (and is resumed)."),
        .init(key: "import_filtering_opts.glimpse_max_redirects", defaultValue: "5", help: "web-download: redirects followed."),
        .init(key: "import_filtering_opts.glimpse_download_attempts", defaultValue: "5",
              help: "web-download: attempts without progress (resumes with Range) before giving up."),
    ]
}

/// The typed configuration, loaded once (DESIGN.md §4.8).
public struct GlimpseConfiguration: Sendable {
    /// One store: its id, driver type, and its section's options (glance_store names).
    public struct StoreConfiguration: Sendable {
        public var id: String
        /// `file`, `http`, `swift` or `s3`.
        public var type: String
        public var options: StoreOptions
        /// Shown by discovery and used for location order; defaults as Glance's.
        public var description: String?
        public var weight: Int
    }

    /// The driver types Glimpse has, by the names `enabled_backends` and `stores` use.
    static let storeTypes: [String: String] = ["file": "file", "filesystem": "file", "http": "http", "https": "http",
                                               "swift": "swift", "s3": "s3"]

    /// Which API this process serves: the Image API (9292) or glance-registry's (9191).
    public enum Role: String, Sendable { case api, registry }

    public var role: Role
    public var bindHost: String
    public var bindPort: Int
    public var databaseConnection: String
    public var sqlitePoolSize: Int
    /// `[database] max_pool_size` and `glimpse_statement_timeout` (PostgreSQL).
    public var databasePoolSize: Int
    public var databaseStatementTimeoutMilliseconds: Int
    /// Every configured store; in single-store mode the ids are the type names.
    public var stores: [StoreConfiguration]
    public var defaultStoreID: String
    public var multiStore: Bool { service.multiStore }
    public var service = ImageServiceConfiguration()
    public var api = APIConfiguration()
    /// `[import_filtering_opts]` and how web-download connects.
    public var webDownload = SafeWebFetcher.Configuration()
    /// Keystone authentication, when `flavor` or `auth_strategy` asks for it (nil: noauth).
    public var keystone: KeystoneConfiguration?
    /// The directory of the configuration file, where relative policy files are looked up.
    public var configDirectory: String?
    /// `[oslo_policy] policy_file` and `policy_dirs`, resolved against `configDirectory`.
    public var policyFile: String
    public var policyDirs: [String]
    /// `property_protection_file` and its rule format.
    public var propertyProtectionFile: String?
    public var propertyProtectionFormat: String
    /// The staging area's directory (`node_staging_uri`, or `[os_glance_staging_store]
    /// filesystem_store_datadir` with multi-store), possibly relative.
    public var stagingPath: String
    /// `scrub_time`, `wakeup_time`, `scrub_pool_size` and whether `serve` runs the scrubber.
    public var scrubber = ScrubberConfiguration()

    /// Reads the merged settings. `settings` maps "section.name" to the winning value.
    public init(settings: [String: String], role: Role = .api, configDirectory: String? = nil) throws {
        self.role = role
        self.configDirectory = configDirectory
        func value(_ key: String) -> String? {
            settings[key] ?? Options.all.first { $0.key == key }?.defaultValue
        }
        func int(_ key: String) throws -> Int {
            guard let s = value(key), let i = Int(s) else { throw ConfigurationError("\(key) must be an integer") }
            return i
        }
        func list(_ key: String) -> [String] { Self.osloList(value(key)) }
        func bool(_ key: String) throws -> Bool {
            switch (value(key) ?? "").lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigurationError("\(key) must be true or false")
            }
        }
        bindHost = value("DEFAULT.bind_host") ?? "0.0.0.0"
        bindPort = role == .registry && settings["DEFAULT.bind_port"] == nil ? 9191 : try int("DEFAULT.bind_port")
        guard (0...65535).contains(bindPort) else { throw ConfigurationError("bind_port must be between 0 and 65535") }
        databaseConnection = value("database.connection") ?? ""
        sqlitePoolSize = try int("DEFAULT.sqlite_pool_size")
        databasePoolSize = try int("database.max_pool_size")
        databaseStatementTimeoutMilliseconds = try int("database.glimpse_statement_timeout")

        let flavor = value("paste_deploy.flavor") ?? ""
        let strategy = value("DEFAULT.auth_strategy") ?? "noauth"
        guard ["noauth", "keystone"].contains(strategy) else {
            throw ConfigurationError("auth_strategy = \(strategy) is not known; use noauth or keystone")
        }
        if flavor.contains("keystone") || strategy == "keystone" {
            guard let authURL = value("keystone_authtoken.auth_url") ?? value("keystone_authtoken.www_authenticate_uri"),
                  let user = value("keystone_authtoken.username"), let password = value("keystone_authtoken.password")
            else {
                throw ConfigurationError(
                    "Keystone authentication needs [keystone_authtoken] auth_url, username and password")
            }
            var k = KeystoneConfiguration(
                authURL: authURL, username: user, password: password,
                projectName: value("keystone_authtoken.project_name") ?? "service")
            k.wwwAuthenticateURI = value("keystone_authtoken.www_authenticate_uri")
            k.userDomainName = value("keystone_authtoken.user_domain_name") ?? "Default"
            k.projectDomainName = value("keystone_authtoken.project_domain_name") ?? "Default"
            k.tokenCacheTime = TimeInterval(try int("keystone_authtoken.token_cache_time"))
            k.serviceTokenRoles = Set(list("keystone_authtoken.service_token_roles").map { $0.lowercased() })
            k.connectTimeout = Int64(try int("keystone_authtoken.http_connect_timeout"))
            k.requestTimeout = Int64(try int("keystone_authtoken.http_request_timeout"))
            keystone = k
        } else if !flavor.isEmpty, !["default", "caching", "cachemanagement", "caching+cachemanagement"].contains(flavor) {
            throw ConfigurationError("[paste_deploy] flavor = \(flavor) is not known")
        }
        policyFile = value("oslo_policy.policy_file") ?? "policy.yaml"
        policyDirs = list("oslo_policy.policy_dirs")
        propertyProtectionFile = value("DEFAULT.property_protection_file")
        propertyProtectionFormat = value("DEFAULT.property_protection_rule_format") ?? "roles"
        guard ["roles", "policies"].contains(propertyProtectionFormat) else {
            throw ConfigurationError("property_protection_rule_format must be roles or policies")
        }

        let backends = list("DEFAULT.enabled_backends")
        (stores, defaultStoreID) = try Self.readStores(settings: settings, backends: backends, value: value)

        service.imageSizeCap = Int64(try int("DEFAULT.image_size_cap"))
        service.hashingAlgorithm = value("DEFAULT.hashing_algorithm") ?? "sha512"
        guard ["sha512", "sha384", "sha256"].contains(service.hashingAlgorithm) else {
            throw ConfigurationError("hashing_algorithm \(service.hashingAlgorithm) is not supported (sha512, sha384, sha256)")
        }
        service.memberQuota = try int("DEFAULT.image_member_quota")
        service.limitDefault = try int("DEFAULT.limit_param_default")
        service.limitMax = try int("DEFAULT.api_limit_max")
        let formats = ImageFormats(diskFormats: list("image_format.disk_formats"), containerFormats: list("image_format.container_formats"))
        service.attributes = ImageAttributes(
            formats: formats, propertyQuota: try int("DEFAULT.image_property_quota"), tagQuota: try int("DEFAULT.image_tag_quota"))
        api.formats = formats
        service.inspector.vmdkAllowedTypes = list("image_format.vmdk_allowed_types")
        service.inspector.requireImageFormatMatch = try bool("image_format.require_image_format_match")
        service.inspector.gptSafetyChecksNonfatal = list("image_format.gpt_safety_checks_nonfatal")
        for name in service.inspector.gptSafetyChecksNonfatal where !["mbr", "gptmbr"].contains(name) {
            throw ConfigurationError("gpt_safety_checks_nonfatal: \(name) is not a gpt safety check (mbr, gptmbr)")
        }
        service.multiStore = !backends.isEmpty
        // oslo.config ListOpt, with or without brackets; only methods Glimpse has, and only
        // copy-image when there are several stores to copy between.
        let methods = list("DEFAULT.enabled_import_methods")
        for method in methods where !["copy-image", "glance-direct", "web-download", "glance-download"].contains(method) {
            throw ConfigurationError("enabled_import_methods: \(method) is not an import method")
        }
        if methods.contains("glance-download") {
            throw ConfigurationError("enabled_import_methods: glance-download is not built in Glimpse yet")
        }
        let multiStore = !backends.isEmpty
        service.enabledImportMethods = methods.filter { $0 != "copy-image" || multiStore }
        stagingPath = try Self.stagingPath(settings: settings, multiStore: service.multiStore, value: value)
        service.workerSelfReferenceURL = value("DEFAULT.worker_self_reference_url")
        service.taskTimeToLive = TimeInterval(try int("task.task_time_to_live")) * 3600
        service.taskClaimTimeout = TimeInterval(try int("task.glimpse_claim_timeout"))
        service.taskMaxAttempts = try int("task.glimpse_max_attempts")
        service.taskWorkers = try int("taskflow_executor.max_workers")
        guard service.taskClaimTimeout >= 1, service.taskMaxAttempts >= 1, service.taskWorkers >= 1 else {
            throw ConfigurationError("glimpse_claim_timeout, glimpse_max_attempts and max_workers must be at least 1")
        }
        let plugins = list("image_import_opts.image_import_plugins")
        for plugin in plugins where !["image_conversion", "image_decompression", "inject_image_metadata", "no_op"].contains(plugin) {
            throw ConfigurationError("image_import_plugins: \(plugin) is not an import plugin")
        }
        service.importPlugins = plugins
        service.conversionOutputFormat = value("image_conversion.output_format") ?? "raw"
        guard ["raw", "qcow2", "vmdk"].contains(service.conversionOutputFormat) else {
            throw ConfigurationError("[image_conversion] output_format must be raw, qcow2 or vmdk")
        }
        service.qemuImg = value("image_conversion.glimpse_qemu_img") ?? "qemu-img"
        service.injectProperties = try list("inject_metadata_properties.inject").map { pair in
            guard let colon = pair.firstIndex(of: ":") else {
                throw ConfigurationError("[inject_metadata_properties] inject: '\(pair)' is not key:value")
            }
            return (String(pair[..<colon]).trimmingSpaces(), String(pair[pair.index(after: colon)...]).trimmingSpaces())
        }
        service.injectIgnoreRoles = list("inject_metadata_properties.ignore_user_roles").map { $0.lowercased() }
        service.storeDetails = backends.isEmpty ? [] : stores.map {
            StoreDetail(id: $0.id, type: $0.type, description: $0.description, weight: $0.weight, readOnly: $0.type == "http")
        }
        api.noauthDefaultProject = value("DEFAULT.noauth_default_project") ?? "admin"
        try readScrubber(value: value)
        webDownload = try Self.readWebDownload(value: value)
    }

    /// An oslo.config ListOpt: comma-separated, with or without brackets and quotes.
    static func osloList(_ text: String?) -> [String] {
        (text ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            .split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " '\"")) }.filter { !$0.isEmpty }
    }

    /// Delayed delete and the scrubber: Glance's `[DEFAULT]` options, oslo.config's booleans.
    mutating func readScrubber(value: (String) -> String?) throws {
        func bool(_ key: String) throws -> Bool {
            switch (value(key) ?? "").lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw ConfigurationError("\(key) must be true or false")
            }
        }
        func seconds(_ key: String, min: Int) throws -> Int {
            guard let s = value(key), let i = Int(s), i >= min else {
                throw ConfigurationError("\(key) must be an integer of at least \(min)")
            }
            return i
        }
        service.delayedDelete = try bool("DEFAULT.delayed_delete")
        scrubber.scrubTime = TimeInterval(try seconds("DEFAULT.scrub_time", min: 0))
        scrubber.wakeupTime = TimeInterval(try seconds("DEFAULT.wakeup_time", min: 0))
        scrubber.poolSize = try seconds("DEFAULT.scrub_pool_size", min: 1)
        scrubber.runInAPI = try bool("DEFAULT.glimpse_scrubber_in_api")
    }

    /// `[import_filtering_opts]`: Glance's lists (oslo ListOpt, brackets and quotes allowed) and Glimpse's additions.
    static func readWebDownload(value: (String) -> String?) throws -> SafeWebFetcher.Configuration {
        func list(_ name: String) -> [String] { osloList(value("import_filtering_opts." + name)) }
        func ports(_ name: String) throws -> [Int] {
            try list(name).map {
                guard let p = Int($0), (1...65535).contains(p) else {
                    throw ConfigurationError("[import_filtering_opts] \(name): '\($0)' is not a port")
                }
                return p
            }
        }
        func positive(_ name: String) throws -> Int {
            guard let s = value("import_filtering_opts." + name), let i = Int(s), i > 0 else {
                throw ConfigurationError("[import_filtering_opts] \(name) must be a positive integer")
            }
            return i
        }
        let allowPrivate = (value("import_filtering_opts.glimpse_allow_private_networks") ?? "false").lowercased()
        guard ["true", "false", "yes", "no", "on", "off", "1", "0"].contains(allowPrivate) else {
            throw ConfigurationError("[import_filtering_opts] glimpse_allow_private_networks must be true or false")
        }
        var c = SafeWebFetcher.Configuration(filtering: ImportFilteringOptions(
            allowedSchemes: list("allowed_schemes").map { $0.lowercased() }, disallowedSchemes: list("disallowed_schemes").map { $0.lowercased() },
            allowedHosts: list("allowed_hosts"), disallowedHosts: list("disallowed_hosts"),
            allowedPorts: try ports("allowed_ports"), disallowedPorts: try ports("disallowed_ports"),
            allowPrivateNetworks: ["true", "yes", "on", "1"].contains(allowPrivate)))
        c.connectTimeout = .seconds(Int64(try positive("glimpse_connect_timeout")))
        c.readTimeout = .seconds(Int64(try positive("glimpse_read_timeout")))
        c.maxRedirects = try positive("glimpse_max_redirects")
        c.attempts = try positive("glimpse_download_attempts")
        return c
    }

    /// Glance takes `node_staging_uri`'s path after `file://`; with multi-store the reserved
    /// `os_glance_staging_store` section may name the directory instead.
    static func stagingPath(settings: [String: String], multiStore: Bool, value: (String) -> String?) throws -> String {
        if multiStore, let dir = settings["os_glance_staging_store.filesystem_store_datadir"], !dir.isEmpty { return dir }
        let uri = value("DEFAULT.node_staging_uri") ?? "file://data/staging"
        guard uri.hasPrefix("file://"), uri.count > 7 else {
            throw ConfigurationError("node_staging_uri must be a file:// URI")
        }
        var path = String(uri.dropFirst(7))
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// `enabled_backends` (one `[name]` section per store) or, without it, glance_store's
    /// single-store options in `[glance_store]` (`default_store`, `stores`).
    static func readStores(settings: [String: String], backends: [String], value: (String) -> String?) throws
        -> ([StoreConfiguration], String)
    {
        func options(_ section: String) -> StoreOptions {
            let prefix = section + "."
            var values: [String: String] = [:]
            for (key, v) in settings where key.hasPrefix(prefix) { values[String(key.dropFirst(prefix.count))] = v }
            if section == "glance_store", values["filesystem_store_datadir"] == nil {
                values["filesystem_store_datadir"] = value("glance_store.filesystem_store_datadir")
            }
            return StoreOptions(section: section, values: values)
        }
        func type(_ name: String, of store: String) throws -> String {
            guard let t = storeTypes[name.lowercased()] else {
                throw ConfigurationError("store type '\(name)' of \(store) is not supported (file, http, swift, s3)")
            }
            return t
        }
        if backends.isEmpty {
            let section = options("glance_store")
            let defaultType = try type(value("glance_store.default_store") ?? "file", of: "default_store")
            var types = try (settings["glance_store.stores"] ?? "file,http").split(separator: ",")
                .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.map { try type($0, of: "stores") }
            if !types.contains(defaultType) { types.insert(defaultType, at: 0) }
            var seen = Set<String>()
            types = types.filter { seen.insert($0).inserted }
            guard defaultType != "http" else { throw ConfigurationError("default_store = http: the http store is read-only") }
            let stores = types.map { StoreConfiguration(id: $0, type: $0, options: section, description: nil, weight: 0) }
            return (stores, defaultType)
        }
        var stores: [StoreConfiguration] = []
        for backend in backends {
            let parts = backend.split(separator: ":").map { $0.trimmingSpaces() }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigurationError("enabled_backends entry '\(backend)' must be name:type")
            }
            guard !stores.contains(where: { $0.id == parts[0] }) else {
                throw ConfigurationError("enabled_backends names \(parts[0]) twice")
            }
            let section = options(parts[0])
            guard let weight = Int(section["weight"] ?? "0") else {
                throw ConfigurationError("[\(parts[0])] weight must be an integer")
            }
            stores.append(StoreConfiguration(
                id: parts[0], type: try type(parts[1], of: "backend \(parts[0])"), options: section,
                description: section["store_description"], weight: weight))
        }
        guard let defaultID = value("glance_store.default_backend") ?? stores.first(where: { $0.type != "http" })?.id else {
            throw ConfigurationError("enabled_backends needs a store that can be written")
        }
        guard let def = stores.first(where: { $0.id == defaultID }) else {
            throw ConfigurationError("default_backend \(defaultID) is not in enabled_backends")
        }
        guard def.type != "http" else { throw ConfigurationError("default_backend \(defaultID) is an http store, which is read-only") }
        return (stores, defaultID)
    }

    /// Merges a configuration file, the environment and flags, in rising precedence.
    public static func load(
        file: INIFile?, environment: [String: String], flags: [String: String], role: Role = .api,
        configDirectory: String? = nil
    ) throws -> GlimpseConfiguration {
        var settings = file?.values ?? [:]
        for option in Options.all {
            if let v = environment[option.environmentVariable] { settings[option.key] = v }
        }
        for option in Options.all {
            if let v = flags[option.flag] { settings[option.key] = v }
        }
        return try GlimpseConfiguration(settings: settings, role: role, configDirectory: configDirectory)
    }

    /// A policy or protection file path: absolute as given, else relative to the configuration
    /// file's directory (oslo.config's lookup) when it exists there, else to the working directory.
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if let dir = configDirectory {
            let candidate = dir + "/" + path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return path
    }

    /// Whether `database.connection` names PostgreSQL (`postgresql://`, `postgres://`, or
    /// SQLAlchemy's `postgresql+driver://`).
    public var usesPostgres: Bool {
        let scheme = databaseConnection.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        return scheme == "postgresql" || scheme == "postgres" || scheme.hasPrefix("postgresql+")
    }

    /// The SQLite file path of `database.connection`, SQLAlchemy style.
    public func sqlitePath() throws -> String {
        let url = databaseConnection
        guard url.hasPrefix("sqlite:") else {
            throw ConfigurationError("[database] connection: expected sqlite:///path or postgresql://user:pass@host:port/db")
        }
        var rest = String(url.dropFirst("sqlite:".count))
        if let q = rest.firstIndex(of: "?") { rest = String(rest[..<q]) }
        if rest == "//" || rest.isEmpty { return ":memory:" }
        guard rest.hasPrefix("///") else { throw ConfigurationError("[database] connection: expected sqlite:///path") }
        return String(rest.dropFirst(3))
    }
}
