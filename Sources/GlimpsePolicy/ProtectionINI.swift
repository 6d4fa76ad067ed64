import Foundation

/// The INI dialect of a property-protection file, read as Python's `configparser` (with its
/// defaults, which Glance uses) reads it:
///
/// - `[section]` headers; the name is everything between the first `[` and the last `]`, so
///   regular expressions such as `[^x_[a-z]+$]` survive;
/// - `key = value` or `key: value`, split at the first `=` or `:`; keys are lower-cased,
///   values trimmed;
/// - whole-line comments starting with `#` or `;` (a `#` later in a line is part of the value);
/// - indented lines continue the previous value;
/// - `[DEFAULT]` supplies values for keys a section lacks and is not a section itself;
/// - `%%` is a percent sign (configparser's interpolation); any other `%` is refused.
///
/// Duplicate sections, duplicate keys in a section, a key before any section, and lines that
/// are neither are errors, as in configparser's strict mode.
struct ProtectionINI {
    struct Section {
        let name: String
        var values: [String: String]
    }

    /// Sections in file order, with `[DEFAULT]` values filled in.
    let sections: [Section]

    init(parsing text: String) throws(PolicyError) {
        var sections: [Section] = []
        var defaults: [String: String] = [:]
        var inDefault = false
        var lastKey: String?
        var seen: Set<String> = []

        func fail(_ number: Int, _ problem: String) -> PolicyError {
            PolicyError("property protection file, line \(number): \(problem)")
        }

        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.isEmpty {
                lastKey = nil
                continue
            }
            if let first = line.first, first == " " || first == "\t", let key = lastKey {
                if inDefault {
                    defaults[key, default: ""] += "\n" + trimmed
                } else {
                    sections[sections.count - 1].values[key, default: ""] += "\n" + trimmed
                }
                continue
            }
            if trimmed.hasPrefix("["), let close = trimmed.lastIndex(of: "]"),
                trimmed.index(after: trimmed.startIndex) < close
            {
                let name = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
                lastKey = nil
                if name == "DEFAULT" {
                    inDefault = true
                    continue
                }
                guard seen.insert(name).inserted else { throw fail(number, "section [\(name)] appears twice") }
                inDefault = false
                sections.append(Section(name: name, values: [:]))
                continue
            }
            guard let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw fail(number, "expected [section] or 'key = value', found '\(trimmed)'")
            }
            let key = trimmed[..<separator].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw fail(number, "a value has no key: '\(trimmed)'") }
            if inDefault {
                guard defaults[key] == nil else { throw fail(number, "key '\(key)' appears twice in [DEFAULT]") }
                defaults[key] = value
            } else {
                guard !sections.isEmpty else { throw fail(number, "'\(key)' comes before any [section]") }
                guard sections[sections.count - 1].values[key] == nil else {
                    throw fail(number, "key '\(key)' appears twice in [\(sections[sections.count - 1].name)]")
                }
                sections[sections.count - 1].values[key] = value
            }
            lastKey = key
        }

        var resolved: [Section] = []
        for var section in sections {
            section.values = defaults.merging(section.values) { _, own in own }
            for (key, value) in section.values {
                section.values[key] = try Self.interpolate(value, section: section.name, key: key)
            }
            resolved.append(section)
        }
        self.sections = resolved
    }

    static func interpolate(_ value: String, section: String, key: String) throws(PolicyError) -> String {
        guard value.contains("%") else { return value }
        var result = ""
        var iterator = value.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            guard iterator.next() == "%" else {
                throw PolicyError("property protection file, [\(section)] \(key) = \(value): write '%' as '%%'")
            }
            result.append("%")
        }
        return result
    }
}
