/// A `glance-api.conf`-style INI file: `[section]` headers, `key = value` lines, `#`/`;` comments,
/// and oslo.config's indented continuation lines. Keys are `section.name`; `[DEFAULT]` is `DEFAULT`.
public struct INIFile: Sendable, Equatable {
    public private(set) var values: [String: String] = [:]

    public init(values: [String: String] = [:]) { self.values = values }

    public init(parsing text: String) throws {
        var section = "DEFAULT"
        var lastKey: String?
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if line.first == " " || line.first == "\t", let key = lastKey {
                values[key, default: ""] += "\n" + trimmed
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    throw ConfigurationError("line \(number + 1): malformed section header")
                }
                section = String(trimmed.dropFirst().dropLast()).trimmingSpaces()
                lastKey = nil
                continue
            }
            guard let sep = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigurationError("line \(number + 1): expected 'name = value'")
            }
            let key = "\(section).\(trimmed[..<sep].trimmingSpaces())"
            let value = trimmed[trimmed.index(after: sep)...].trimmingSpaces()
            if Self.multiValued.contains(where: key.hasSuffix), let earlier = values[key] {
                values[key] = earlier + "\n" + value  // oslo.config MultiStrOpt: every line counts
            } else {
                values[key] = value  // otherwise the last line wins, as in oslo.config
            }
            lastKey = key
        }
    }

    public subscript(_ key: String) -> String? { values[key] }

    /// Options oslo.config reads as lists of lines.
    static let multiValued = [".filesystem_store_datadirs"]
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
