/// VMware VMDK: a hosted sparse extent ("KDMV" header, embedded descriptor at sector 1,
/// optional footer for streamOptimized) or a standalone text descriptor naming extent files.
enum VMDK {
    static let maxDescriptor = (1 << 20) - 1  // qemu's limit
    static let gdAtEnd = UInt64.max

    /// Where the embedded descriptor is (qemu and Glance accept only sector 1), capped at 1 MiB.
    static func descriptorLocation(_ head: [UInt8]) -> (Int64, Int)? {
        guard head.le64(28) == 1, let sectors = head.le64(36), sectors > 0 else { return nil }
        return (512, sectors >= 2048 ? maxDescriptor : min(Int(sectors) * 512, maxDescriptor))
    }

    struct Extent {
        var access: String
        var sectors: UInt64?
        var file: String?
    }

    struct Descriptor {
        /// `createType` as written (nil: absent).
        var createType: String?
        var extents: [Extent] = []
        var parentHint = false
        /// A line that is none of comment, header field, `ddb…` or extent (Glance refuses it).
        var invalidLine = false
        var notText = false
    }

    /// Parses descriptor text cautiously, like Glance: every line must be understood.
    static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Descriptor {
        var d = Descriptor()
        let body = bytes.prefix { $0 != 0 }  // an embedded descriptor is NUL-padded
        guard body.allSatisfy(isTextByte) else {
            d.notText = true
            return d
        }
        let text = String(decoding: body, as: UTF8.self)
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingWhitespace()
            let lower = line.lowercased()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if lower.hasPrefix("ddb") { continue }
            if let eq = line.firstIndex(of: "="), !line[..<eq].contains(" ") {
                let key = line[..<eq].trimmingWhitespace().lowercased()
                let value = line[line.index(after: eq)...].trimmingWhitespace().trimmingQuotes()
                if key == "createtype" { d.createType = value }
                if key == "parentfilenamehint" { d.parentHint = true }
                continue
            }
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let first = tokens.first, ["rw", "rdonly", "noaccess"].contains(first.lowercased()) {
                var file: String?
                if let q1 = line.firstIndex(of: "\"") {
                    let rest = line[line.index(after: q1)...]
                    file = String(rest.prefix { $0 != "\"" })
                }
                d.extents.append(Extent(access: String(first), sectors: tokens.count > 1 ? UInt64(tokens[1]) : nil, file: file))
                continue
            }
            d.invalidLine = true
        }
        return d
    }

    /// A createType fit to show a client: letters and digits only, at most 64 characters.
    static func display(_ createType: String?) -> String {
        guard let createType else { return "(none)" }
        let clean = String(createType.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(64))
        return clean.isEmpty ? "(invalid)" : clean
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let chars = Array(self)
        var s = 0, e = chars.count
        while s < e, chars[s].isWhitespace { s += 1 }
        while e > s, chars[e - 1].isWhitespace { e -= 1 }
        return String(chars[s..<e])
    }

    func trimmingQuotes() -> String {
        var s = Substring(self)
        if s.hasPrefix("\"") { s = s.dropFirst() }
        if s.hasSuffix("\"") { s = s.dropLast() }
        return String(s)
    }
}
