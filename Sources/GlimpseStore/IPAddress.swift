/// An IPv4 or IPv6 address, parsed only from its canonical spellings (pure, no system calls).
///
/// IPv4 is accepted only as four decimal octets without leading zeros (`127.0.0.1`), as Python's
/// `ipaddress` does since Glance 32: `127.1`, `0x7f.1`, `2130706433` and `0177.0.0.1`, which
/// `inet_aton` would read as 127.0.0.1, are not addresses here (`ImportURL` refuses them).
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// Sixteen bytes, network order.
    case v6([UInt8])

    /// What an address reaches, for the web-download address policy.
    public enum Kind: String, Sendable {
        case global
        /// RFC 1918, CGNAT 100.64/10, benchmarking 198.18/15, IPv6 ULA fc00::/7 and site-local fec0::/10.
        case `private`
        case loopback
        /// 169.254/16 (cloud metadata services) and fe80::/10.
        case linkLocal = "link-local"
        /// 0.0.0.0/8 and `::` (Linux connects them to the host itself).
        case unspecified
        case multicast
        /// 240/4, broadcast, 192.0.0/24 (IETF assignments), IPv4-compatible IPv6, discard-only 100::/64.
        case reserved
    }

    // MARK: parsing

    /// A canonical dotted quad, else nil.
    public static func parseIPv4(_ s: some StringProtocol) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0", let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    /// An IPv6 address (RFC 4291 text forms, optionally ending in a canonical dotted quad), else nil.
    /// Zone ids (`fe80::1%eth0`) are not accepted.
    public static func parseIPv6(_ s: some StringProtocol) -> [UInt8]? {
        let text = String(s)
        guard !text.isEmpty, text.count <= 45, !text.contains("%") else { return nil }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var bytes: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if i == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    bytes += [UInt8(v4 >> 24), UInt8(v4 >> 16 & 0xff), UInt8(v4 >> 8 & 0xff), UInt8(v4 & 0xff)]
                    continue
                }
                guard (1...4).contains(piece.count), piece.allSatisfy({ $0.isHexDigit && $0.isASCII }),
                      let g = UInt16(piece, radix: 16)
                else { return nil }
                bytes += [UInt8(g >> 8), UInt8(g & 0xff)]
            }
            return bytes
        }
        if halves.count == 1 {
            guard let all = groups(halves[0]), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0]), let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        // A dotted quad may only end the address.
        if halves[0].contains(".") { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Parses either family; an IPv6 literal may be given in brackets.
    public init?(_ s: some StringProtocol) {
        if let v4 = Self.parseIPv4(s) {
            self = .v4(v4)
        } else {
            var t = Substring(s)
            if t.first == "[", t.last == "]" { t = t.dropFirst().dropLast() }
            guard let v6 = Self.parseIPv6(t) else { return nil }
            self = .v6(v6)
        }
    }

    // MARK: forms

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`); self otherwise.
    public var unmapped: IPAddress {
        if case .v6(let b) = self, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff {
            return .v4(Self.word(b, 12))
        }
        return self
    }

    static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    /// `a.b.c.d`, or RFC 5952's IPv6 form (lower case, longest run of zero groups as `::`).
    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6(let b):
            let g = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
            var best = (start: -1, length: 0)
            var i = 0
            while i < 8 {
                guard g[i] == 0 else { i += 1; continue }
                var j = i
                while j < 8, g[j] == 0 { j += 1 }
                if j - i > best.length { best = (i, j - i) }
                i = j
            }
            func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
            guard best.length >= 2 else { return hex(0..<8) }
            return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
        }
    }

    // MARK: classification

    /// What the address reaches. IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    /// addresses are judged by the IPv4 address they carry.
    public var kind: Kind {
        switch unmapped {
        case .v4(let a):
            return Self.kind(ofIPv4: a)
        case .v6(let b):
            if b.allSatisfy({ $0 == 0 }) { return .unspecified }
            if b[0..<15].allSatisfy({ $0 == 0 }), b[15] == 1 { return .loopback }
            if b[0..<12].allSatisfy({ $0 == 0 }) { return .reserved }  // IPv4-compatible (deprecated)
            if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) {
                return Self.kind(ofIPv4: Self.word(b, 12))
            }
            if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4] == 0x00, b[5] == 0x01 { return .private }
            if b[0] == 0x20, b[1] == 0x02 { return Self.kind(ofIPv4: Self.word(b, 2)) }
            if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return .reserved }
            if b[0] == 0xff { return .multicast }
            if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return .linkLocal }
            if b[0] == 0xfe, b[1] & 0xc0 == 0xc0 { return .private }
            if b[0] & 0xfe == 0xfc { return .private }
            return .global
        }
    }

    static func kind(ofIPv4 a: UInt32) -> Kind {
        func within(_ net: UInt32, _ bits: UInt32) -> Bool { a >> (32 - bits) == net >> (32 - bits) }
        if within(0x0000_0000, 8) { return .unspecified }
        if within(0x7f00_0000, 8) { return .loopback }
        if within(0xa9fe_0000, 16) { return .linkLocal }
        if within(0x0a00_0000, 8) || within(0xac10_0000, 12) || within(0xc0a8_0000, 16) || within(0x6440_0000, 10)
            || within(0xc612_0000, 15)
        {
            return .private
        }
        if within(0xe000_0000, 4) { return .multicast }
        if within(0xf000_0000, 4) || within(0xc000_0000, 24) { return .reserved }
        return .global
    }
}
