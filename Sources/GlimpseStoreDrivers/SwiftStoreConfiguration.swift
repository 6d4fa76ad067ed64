import Foundation
import GlimpseStore
import NIOCore

/// The configuration of a `swift` store, read from its section by glance_store's option names
/// (single-tenant store only) plus a few Glimpse additions. Every option, its default and its
/// meaning are in `docs/swift-store.md`; values an operator must fix throw
/// `StoreConfigurationError` naming the section and option, never a secret.
public struct SwiftStoreConfiguration: Sendable {
    public enum AuthVersion: String, Sendable, Hashable {
        case v1 = "1"
        case v3 = "3"
    }

    public enum ManifestKind: String, Sendable {
        /// Dynamic large object: segments `<id>-00001…` plus `X-Object-Manifest: <container>/<id>-`.
        case dlo
        /// Static large object: the same segments listed in a `?multipart-manifest=put` document.
        case slo
    }

    /// One Swift account and how to log in to it.
    public struct Account: Sendable, Hashable {
        public var authAddress: String
        public var authVersion: AuthVersion
        public var user: String?
        public var key: String?
        public var projectName: String?
        public var projectID: String?
        public var userDomainID: String?
        public var userDomainName: String?
        public var projectDomainID: String?
        public var projectDomainName: String?
        public var applicationCredentialID: String?
        public var applicationCredentialSecret: String?

        public init(authAddress: String, authVersion: AuthVersion, user: String?, key: String?) {
            self.authAddress = authAddress
            self.authVersion = authVersion
            self.user = user
            self.key = key
        }
    }

    public enum Authentication: Sendable {
        /// Log in with the account's credentials (tempauth v1 or Keystone v3).
        case account(Account)
        /// A fixed token for `endpoint`; no auth service (`swift_store_auth_token`).
        case token(String)
    }

    public var authentication: Authentication
    /// `swift_store_auth_version`: also the version used for legacy locations' credentials.
    public var authVersion: AuthVersion
    /// Accounts by reference name: the references file, or `[default_swift_reference: the section's account]`.
    public var references: [String: Account]
    public var defaultReference: String
    /// Whether `swift_store_config_file` is set (new locations are then `swift+config://`).
    public var usesReferencesFile: Bool
    public var endpoint: String?
    public var region: String?
    public var endpointType: String
    public var serviceType: String
    public var container: String
    public var createContainerOnPut: Bool
    public var multipleContainersSeed: Int
    /// In bytes (the options are glance_store MB); tests may set small values directly.
    public var largeObjectSize: Int64
    public var largeObjectChunkSize: Int64
    public var segmentUnknownSize: Bool
    public var manifest: ManifestKind
    public var retryGetCount: Int
    public var expireSoonInterval: TimeInterval
    public var connectTimeout: TimeAmount
    public var readTimeout: TimeAmount

    /// glance_store's "MB": `units.k * units.Ki`.
    public static let megabyte: Int64 = 1000 * 1024

    public init(options o: StoreOptions) throws {
        let section = o.section
        func fail(_ message: String) -> StoreConfigurationError { StoreConfigurationError("[\(section)] \(message)") }

        if try o.bool("swift_store_multi_tenant", default: false) {
            throw fail("swift_store_multi_tenant is not supported by Glimpse; use a single-tenant swift store")
        }
        defaultReference = o.string("default_swift_reference", default: "ref1")
        endpoint = o["swift_store_endpoint"].map { Self.trimSlashes($0) }
        if let endpoint, !Self.isHTTPURL(endpoint) { throw fail("swift_store_endpoint must be an http:// or https:// URL") }
        region = o["swift_store_region"]
        endpointType = o.string("swift_store_endpoint_type", default: "publicURL")
        guard ["publicURL", "internalURL", "adminURL"].contains(endpointType) else {
            throw fail("swift_store_endpoint_type must be publicURL, internalURL or adminURL")
        }
        serviceType = o.string("swift_store_service_type", default: "object-store")

        let sectionVersion: AuthVersion
        switch o.string("swift_store_auth_version", default: "3") {
        case "1", "1.0": sectionVersion = .v1
        case "3", "3.0": sectionVersion = .v3
        default: throw fail("swift_store_auth_version must be 1 (tempauth) or 3 (Keystone v3)")
        }

        authVersion = sectionVersion
        let token = o["swift_store_auth_token"]
        if let file = o["swift_store_config_file"] {
            usesReferencesFile = true
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw fail("swift_store_config_file cannot be read")
            }
            references = try SwiftReferencesFile.parse(text, defaultVersion: sectionVersion)
            guard let account = references[defaultReference] else {
                throw fail("default_swift_reference names no complete section of swift_store_config_file")
            }
            if token != nil { throw fail("swift_store_auth_token cannot be combined with swift_store_config_file") }
            authentication = .account(account)
        } else if let address = o["swift_store_auth_address"] {
            usesReferencesFile = false
            if token != nil { throw fail("swift_store_auth_token cannot be combined with swift_store_auth_address") }
            guard Self.isHTTPURL(address) else { throw fail("swift_store_auth_address must be an http:// or https:// URL") }
            var account = Account(authAddress: address, authVersion: sectionVersion, user: o["swift_store_user"], key: o["swift_store_key"])
            account.projectName = o["swift_store_project_name"]
            account.projectID = o["swift_store_project_id"]
            account.applicationCredentialID = o["swift_store_application_credential_id"]
            account.applicationCredentialSecret = o["swift_store_application_credential_secret"]
            account.userDomainID = "default"
            account.projectDomainID = "default"
            let hasAppCredential = account.applicationCredentialID != nil && account.applicationCredentialSecret != nil
            if (account.applicationCredentialID != nil) != (account.applicationCredentialSecret != nil) {
                throw fail("swift_store_application_credential_id and _secret must be set together")
            }
            if hasAppCredential {
                guard sectionVersion == .v3 else { throw fail("application credentials need swift_store_auth_version = 3") }
            } else if account.user == nil || account.key == nil {
                throw fail("swift_store_user and swift_store_key are required with swift_store_auth_address")
            }
            references = [defaultReference: account]
            authentication = .account(account)
        } else if let token {
            usesReferencesFile = false
            guard endpoint != nil else { throw fail("swift_store_auth_token needs swift_store_endpoint (the storage URL)") }
            references = [:]
            authentication = .token(token)
        } else {
            throw fail("one of swift_store_auth_address, swift_store_config_file or swift_store_endpoint with swift_store_auth_token is required")
        }

        container = o.string("swift_store_container", default: "glance")
        guard !container.contains("/") else { throw fail("swift_store_container must not contain '/'") }
        createContainerOnPut = try o.bool("swift_store_create_container_on_put", default: false)
        multipleContainersSeed = try o.int("swift_store_multiple_containers_seed", default: 0)
        guard (0...32).contains(multipleContainersSeed) else {
            throw fail("swift_store_multiple_containers_seed must be between 0 and 32")
        }
        let objectSize = try o.int("swift_store_large_object_size", default: 5120)
        let chunkSize = try o.int("swift_store_large_object_chunk_size", default: 200)
        guard objectSize >= 1, chunkSize >= 1 else {
            throw fail("swift_store_large_object_size and swift_store_large_object_chunk_size must be at least 1 (MB)")
        }
        largeObjectSize = Int64(objectSize) * Self.megabyte
        largeObjectChunkSize = Int64(chunkSize) * Self.megabyte
        segmentUnknownSize = try o.bool("swift_store_segment_unknown_size", default: true)
        guard let manifest = ManifestKind(rawValue: o.string("swift_store_large_object_manifest", default: "dlo").lowercased()) else {
            throw fail("swift_store_large_object_manifest must be dlo or slo")
        }
        self.manifest = manifest
        retryGetCount = try o.int("swift_store_retry_get_count", default: 0)
        guard retryGetCount >= 0 else { throw fail("swift_store_retry_get_count must not be negative") }
        let expire = try o.int("swift_store_expire_soon_interval", default: 60)
        guard expire >= 0 else { throw fail("swift_store_expire_soon_interval must not be negative") }
        expireSoonInterval = TimeInterval(expire)
        connectTimeout = try Self.seconds(o, "swift_store_connect_timeout", default: 10, fail)
        readTimeout = try Self.seconds(o, "swift_store_read_timeout", default: 60, fail)
    }

    static func seconds(
        _ o: StoreOptions, _ key: String, default fallback: Double, _ fail: (String) -> StoreConfigurationError
    ) throws -> TimeAmount {
        guard let text = o[key] else { return .milliseconds(Int64(fallback * 1000)) }
        guard let value = Double(text), value > 0, value < 86400 else { throw fail("\(key) must be a positive number of seconds") }
        return .milliseconds(Int64(value * 1000))
    }

    static func isHTTPURL(_ s: String) -> Bool {
        let lower = s.lowercased()
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && lower.split(separator: "/").count >= 2
    }

    static func trimSlashes(_ s: String) -> String {
        var t = Substring(s)
        while t.hasSuffix("/") { t.removeLast() }
        return String(t)
    }

    /// `http://host/path/` → (`swift+http`, `host/path`), as glance_store's `get_uri` strips it.
    static func locationParts(of url: String) -> (scheme: String, rest: String) {
        var rest = Substring(url)
        var scheme = "swift+https"
        if rest.lowercased().hasPrefix("http://") {
            scheme = "swift+http"
            rest = rest.dropFirst(7)
        } else if rest.lowercased().hasPrefix("https://") {
            rest = rest.dropFirst(8)
        }
        while rest.hasPrefix("/") { rest.removeFirst() }
        while rest.hasSuffix("/") { rest.removeLast() }
        return (scheme, String(rest))
    }

    /// What new locations start with, up to and including the `/` before the container:
    /// `swift+config://<ref>/` with a references file, else the auth address (or, with a static
    /// token, the storage URL) in glance_store's form, never with credentials.
    public var locationPrefix: String {
        if usesReferencesFile { return "swift+config://\(defaultReference)/" }
        switch authentication {
        case .account(let account):
            let (scheme, rest) = Self.locationParts(of: account.authAddress)
            return "\(scheme)://\(rest)/"
        case .token:
            let (scheme, rest) = Self.locationParts(of: endpoint ?? "")
            return "\(scheme)://\(rest)/"
        }
    }

    /// The addresses credential-less locations of this store name: the auth addresses of its
    /// accounts and the storage URL override, as `addressKey`s.
    var ownAddresses: Set<String> {
        var keys = Set(references.values.map { Self.addressKey($0.authAddress) })
        if case .account(let account) = authentication { keys.insert(Self.addressKey(account.authAddress)) }
        if let endpoint { keys.insert(Self.addressKey(endpoint)) }
        return keys
    }

    /// An address without scheme and surrounding slashes, host lower-cased: `swift://` and
    /// `swift+https://` locations name the same account.
    static func addressKey(_ address: String) -> String {
        let rest = locationParts(of: address).rest
        guard let slash = rest.firstIndex(of: "/") else { return rest.lowercased() }
        return rest[..<slash].lowercased() + rest[slash...]
    }

    /// glance_store's `get_container_name`: with a seed of N, `<container>_<first N characters
    /// of the lower-cased image id>`, where dashes are taken along but not counted.
    public func containerName(forImage imageID: String) -> String {
        guard multipleContainersSeed > 0 else { return container }
        let id = imageID.lowercased()
        let head = id.prefix(multipleContainersSeed)
        let dashes = head.filter { $0 == "-" }.count
        return container + "_" + id.prefix(multipleContainersSeed + dashes)
    }
}

/// glance_store's `swift_store_config_file`: an INI file of account references.
enum SwiftReferencesFile {
    /// Sections that lack `auth_address` or credentials are skipped, as glance_store skips them.
    static func parse(_ text: String, defaultVersion: SwiftStoreConfiguration.AuthVersion) throws
        -> [String: SwiftStoreConfiguration.Account]
    {
        var sections: [String: [String: String]] = [:]
        var defaults: [String: String] = [:]
        var current: String?
        var lastKey: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine).swiftTrimmed
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            // A continuation line (indented) extends the previous value, as configparser allows.
            if let first = rawLine.first, first == " " || first == "\t", let key = lastKey {
                if let section = current {
                    sections[section, default: [:]][key, default: ""] += "\n" + line
                } else {
                    defaults[key, default: ""] += "\n" + line
                }
                continue
            }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = String(line.dropFirst().dropLast()).swiftTrimmed
                current = name == "DEFAULT" ? nil : name
                if let current, sections[current] == nil { sections[current] = [:] }
                lastKey = nil
                continue
            }
            let delimiter = line.firstIndex(where: { $0 == "=" || $0 == ":" })
            guard let delimiter else { continue }
            let key = String(line[..<delimiter]).swiftTrimmed.lowercased()
            let value = String(line[line.index(after: delimiter)...]).swiftTrimmed
            if let section = current { sections[section, default: [:]][key] = value } else { defaults[key] = value }
            lastKey = key
        }
        var accounts: [String: SwiftStoreConfiguration.Account] = [:]
        for (name, own) in sections {
            let values = defaults.merging(own) { $1 }
            func get(_ key: String) throws -> String? {
                guard let v = values[key] else { return nil }
                return try unquote(v, section: name, key: key)
            }
            guard let address = try get("auth_address"), !address.isEmpty else { continue }
            let version: SwiftStoreConfiguration.AuthVersion
            switch try get("auth_version") {
            case "1", "1.0": version = .v1
            case nil: version = defaultVersion
            default: version = .v3  // glance_store treats every other value as 3
            }
            var account = SwiftStoreConfiguration.Account(authAddress: address, authVersion: version, user: try get("user"), key: try get("key"))
            account.applicationCredentialID = try get("application_credential_id")
            account.applicationCredentialSecret = try get("application_credential_secret")
            account.projectName = try get("project_name")
            account.projectID = try get("project_id")
            account.userDomainID = try get("user_domain_id")
            account.userDomainName = try get("user_domain_name")
            account.projectDomainID = try get("project_domain_id")
            account.projectDomainName = try get("project_domain_name")
            if account.userDomainID == nil && account.userDomainName == nil { account.userDomainID = "default" }
            if account.projectDomainID == nil && account.projectDomainName == nil { account.projectDomainID = "default" }
            let hasAppCredential = account.applicationCredentialID != nil && account.applicationCredentialSecret != nil
            guard hasAppCredential || (account.user != nil && account.key != nil) else { continue }
            accounts[name] = account
        }
        return accounts
    }

    /// glance_store's `SwiftConfigParser._process_quotes`: one pair of matching quotes is removed.
    static func unquote(_ value: String, section: String, key: String) throws -> String {
        guard let first = value.first, first == "\"" || first == "'" else { return value }
        guard value.count >= 2, value.last == first else {
            throw StoreConfigurationError("swift_store_config_file: [\(section)] \(key) has an unclosed quote")
        }
        return String(value.dropFirst().dropLast())
    }
}

extension String {
    var swiftTrimmed: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
