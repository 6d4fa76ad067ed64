import GlimpseDomain

/// `[import_filtering_opts]`: which URLs web-download (and the legacy `import` task) may fetch.
///
/// Glance's options and defaults. For each pair, a non-empty allowed list makes the disallowed
/// list irrelevant; an empty allowed list allows everything its disallowed list does not name.
/// Beyond the lists, every address a URL reaches (a literal, or each address its name resolves
/// to) must be global unless the host is named in `allowedHosts`: loopback, link-local,
/// unspecified, multicast and reserved addresses are always refused, private ones (RFC 1918,
/// CGNAT, IPv6 ULA) unless `allowPrivateNetworks`. Glance refuses only loopback and link-local.
public struct ImportFilteringOptions: Sendable, Equatable {
    public var allowedSchemes: [String]
    public var disallowedSchemes: [String]
    public var allowedHosts: [String]
    public var disallowedHosts: [String]
    public var allowedPorts: [Int]
    public var disallowedPorts: [Int]
    /// `glimpse_allow_private_networks` (Glimpse only; default false).
    public var allowPrivateNetworks: Bool

    public init(
        allowedSchemes: [String] = ["http", "https"], disallowedSchemes: [String] = [],
        allowedHosts: [String] = [], disallowedHosts: [String] = [],
        allowedPorts: [Int] = [80, 443], disallowedPorts: [Int] = [],
        allowPrivateNetworks: Bool = false
    ) {
        self.allowedSchemes = allowedSchemes
        self.disallowedSchemes = disallowedSchemes
        self.allowedHosts = allowedHosts
        self.disallowedHosts = disallowedHosts
        self.allowedPorts = allowedPorts
        self.disallowedPorts = disallowedPorts
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// Parses `text` and applies every check that needs no network: the scheme, host and port
    /// lists, and the address policy for a literal address. Throws `.badRequest` naming the reason.
    @discardableResult
    public func validate(_ text: String) throws -> ImportURL {
        // The scheme first, as Glance does: `file:///etc/passwd` is refused for its scheme.
        if let colon = text.firstIndex(of: ":"), colon != text.startIndex,
           text[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        {
            try checkScheme(text[..<colon].lowercased())
        }
        let url = try ImportURL.parse(text)
        try check(url)
        return url
    }

    /// The list checks and, for a literal host, the address policy.
    public func check(_ url: ImportURL) throws {
        func refuse(_ why: String) -> GlimpseError { .badRequest("URL refused: \(why).") }
        try checkScheme(url.scheme)
        let hostListed = Self.normalizedHosts(allowedHosts).contains(url.host)
        if !allowedHosts.isEmpty ? !hostListed : Self.normalizedHosts(disallowedHosts).contains(url.host) {
            throw refuse("host '\(url.host)' is not allowed")
        }
        if !allowedPorts.isEmpty ? !allowedPorts.contains(url.port) : disallowedPorts.contains(url.port) {
            throw refuse("port \(url.port) is not allowed")
        }
        if let address = url.address, let kind = refusal(of: address, for: url) {
            throw refuse("'\(url.host)' is \(Self.article(kind)) \(kind.rawValue) address")
        }
    }

    func checkScheme(_ scheme: String) throws {
        let schemes = (allowed: allowedSchemes.map { $0.lowercased() }, disallowed: disallowedSchemes.map { $0.lowercased() })
        if !schemes.allowed.isEmpty ? !schemes.allowed.contains(scheme) : schemes.disallowed.contains(scheme) {
            throw GlimpseError.badRequest("URL refused: scheme '\(scheme)' is not allowed.")
        }
        guard scheme == "http" || scheme == "https" else {
            throw GlimpseError.badRequest("URL refused: only http and https URLs can be downloaded, not '\(scheme)'.")
        }
    }

    /// Why `address` may not be connected to for `url` (nil when it may): a host named in
    /// `allowedHosts` may reach any address; otherwise only global ones, and private ones when
    /// `allowPrivateNetworks`.
    public func refusal(of address: IPAddress, for url: ImportURL) -> IPAddress.Kind? {
        if Self.normalizedHosts(allowedHosts).contains(url.host) { return nil }
        switch address.kind {
        case .global: return nil
        case .private where allowPrivateNetworks: return nil
        case let kind: return kind
        }
    }

    /// The message for a name whose every resolved address was refused (the addresses are not
    /// named: they may describe an internal network).
    public static func refusedResolution(host: String, kinds: [IPAddress.Kind]) -> GlimpseError {
        var seen: [String] = []
        for k in kinds where !seen.contains(k.rawValue) { seen.append(k.rawValue) }
        let what = seen.count == 1 ? "\(article(kinds[0])) \(seen[0]) address" : "addresses that are not allowed (\(seen.joined(separator: ", ")))"
        return .badRequest("URL refused: host '\(host)' resolves to \(what).")
    }

    static func article(_ kind: IPAddress.Kind) -> String {
        switch kind {
        case .unspecified: "an"
        default: "a"
        }
    }

    static func normalizedHosts(_ list: [String]) -> Set<String> {
        Set(list.map { entry in
            let trimmed = entry.trimmingWhitespace
            let host = (try? ImportURL.normalizeHost(Substring(trimmed), refuse: { GlimpseError.badRequest($0) }).0)
            return host ?? trimmed.lowercased()
        })
    }
}
