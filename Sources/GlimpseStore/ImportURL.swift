import GlimpseDomain

/// An absolute http(s) URL taken apart for the web-download policy (pure).
///
/// `parse` accepts only what can be checked without ambiguity: ASCII, no credentials, a host
/// that is a DNS name, a canonical IPv4 address or a bracketed IPv6 literal. A host whose last
/// label is a number (`127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`) is an IPv4 address in
/// another spelling that resolvers would accept; unless it is the canonical dotted quad it is
/// refused, as Glance 32+ refuses what `ipaddress` cannot parse.
public struct ImportURL: Sendable, Equatable, CustomStringConvertible {
    /// Lower case, as given (`http`, `https`, or whatever the caller will refuse).
    public var scheme: String
    /// Lower-case DNS name without a trailing dot, or an address's canonical text (an IPv4-mapped
    /// IPv6 literal is its IPv4 address). Compared against the host lists.
    public var host: String
    /// The address when the host is a literal; nothing is resolved for it.
    public var address: IPAddress?
    /// The port to connect to: the URL's, else the scheme's default.
    public var port: Int
    public var portIsExplicit: Bool
    /// Path and query as sent in the request line (`/` when empty); the fragment is dropped.
    public var target: String

    public var isHTTPS: Bool { scheme == "https" }

    static func defaultPort(_ scheme: String) -> Int? {
        switch scheme {
        case "http": 80
        case "https": 443
        case "ftp": 21
        default: nil
        }
    }

    /// `Host` header value: the host (bracketed if IPv6) and the port unless it is the default.
    public var hostHeader: String {
        let h = if case .v6 = address { "[\(host)]" } else { host }
        return portIsExplicit && port != Self.defaultPort(scheme) ? "\(h):\(port)" : h
    }

    public var description: String { "\(scheme)://\(hostHeader)\(target)" }

    /// Takes an absolute URL apart; throws `.badRequest` saying what is wrong with it.
    public static func parse(_ text: String) throws -> ImportURL {
        func refuse(_ why: String) -> GlimpseError { .badRequest("URL refused: \(why).") }
        guard !text.isEmpty else { throw refuse("it is empty") }
        guard text.utf8.count <= 8192 else { throw refuse("it is too long") }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw refuse("it contains spaces, control or non-ASCII characters (percent-encode them)")
        }
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { throw refuse("it has no scheme") }
        let scheme = text[..<colon].lowercased()
        guard scheme.first!.isLetter, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            throw refuse("it has no scheme")
        }
        var rest = text[text.index(after: colon)...]
        guard rest.hasPrefix("//") else { throw refuse("it has no host") }
        rest = rest.dropFirst(2)
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty || target.first == "?" { target = "/" + target }
        guard !authority.contains("@") else { throw refuse("credentials in URLs are not supported") }

        var hostPart = authority
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("the IPv6 address is not closed by ']'") }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw refuse("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let c = authority.lastIndex(of: ":") {
            hostPart = authority[..<c]
            portText = authority[authority.index(after: c)...]
        }
        var port = defaultPort(scheme) ?? 0
        var explicit = false
        if let portText, !portText.isEmpty {
            guard portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(portText),
                  (1...65535).contains(p)
            else { throw refuse("the port '\(portText)' is not a number from 1 to 65535") }
            port = p
            explicit = true
        }
        guard !hostPart.isEmpty else { throw refuse("it has no host") }
        let (host, address) = try normalizeHost(hostPart, refuse: refuse)
        guard port != 0 else { throw refuse("scheme '\(scheme)' has no default port") }
        return ImportURL(scheme: scheme, host: host, address: address, port: port, portIsExplicit: explicit, target: target)
    }

    /// A host as the lists compare it: canonical address text, else a lower-case DNS name.
    /// Throws for spellings that are not one of those.
    static func normalizeHost(_ raw: Substring, refuse: (String) -> GlimpseError) throws -> (String, IPAddress?) {
        if raw.first == "[" {
            guard raw.last == "]", let bytes = IPAddress.parseIPv6(raw.dropFirst().dropLast()) else {
                throw refuse("'\(raw)' is not a valid IPv6 address")
            }
            let address = IPAddress.v6(bytes).unmapped
            return (address.description, address)
        }
        var name = raw.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if let last = labels.last, isNumeric(last) {
            guard let v4 = IPAddress.parseIPv4(name) else {
                throw refuse("'\(raw)' is not a canonical IPv4 address (use four decimal numbers, like 192.0.2.1)")
            }
            return (IPAddress.v4(v4).description, .v4(v4))
        }
        guard name.count <= 253,
              labels.allSatisfy({ l in
                  (1...63).contains(l.count) && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
              })
        else { throw refuse("'\(raw)' is not a valid host name") }
        return (name, nil)
    }

    /// Whether a label reads as a number to `inet_aton` or the WHATWG URL parser (decimal or 0x hex).
    static func isNumeric(_ label: Substring) -> Bool {
        guard !label.isEmpty else { return false }
        if label.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        let lower = label.lowercased()
        return lower.hasPrefix("0x") && lower.dropFirst(2).allSatisfy { $0.isASCII && $0.isHexDigit }
    }

    /// The URL a `Location` header names, relative to this one (RFC 3986 §5.2, without dot-segment
    /// removal, which the next server does). Throws `.badRequest` for an unusable reference.
    public func resolving(_ reference: String) throws -> ImportURL {
        try Self.parse(resolvedText(reference))
    }

    /// The absolute text of `reference` relative to this URL (not checked).
    public func resolvedText(_ reference: String) -> String {
        let ref = reference.trimmingWhitespace
        let firstDelimiter = ref.firstIndex(where: { "/?#".contains($0) }) ?? ref.endIndex
        if let colon = ref.firstIndex(of: ":"), colon < firstDelimiter { return ref }
        if ref.hasPrefix("//") { return scheme + ":" + ref }
        let authority = "\(scheme)://\(hostHeader)"
        if ref.hasPrefix("/") { return authority + ref }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if ref.isEmpty || ref.hasPrefix("#") { return description }
        if ref.hasPrefix("?") { return authority + path + ref }
        let directory = path[...(path.lastIndex(of: "/") ?? path.startIndex)]
        return authority + directory + ref
    }
}
