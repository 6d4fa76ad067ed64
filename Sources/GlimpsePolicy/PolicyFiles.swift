import Foundation
import Yams

/// An operator's policy overrides: `[oslo_policy] policy_file` and `policy_dirs`, read as
/// oslo.policy reads them.
///
/// - A policy file is YAML (JSON is YAML too): a mapping of rule name to check string. An empty
///   file, or one holding only `null`, has no rules.
/// - `policy_file` that does not exist is not an error (oslo only logs it); Glance's defaults
///   apply.
/// - Each of `policy_dirs` (default `policy.d`) is read after the policy file, in the order
///   given; a relative directory is taken next to the policy file (the current directory when
///   there is no policy file). A directory that does not exist is skipped; a path that exists
///   but is not a directory is an error.
/// - In a directory, every file whose name does not start with `.` is read, in sorted order
///   (sub-directories are not descended into). Like oslo.policy, this is not limited to
///   `*.yaml` and `*.json`: a stray `README` is read, and refused, too.
/// - A later file overrides an earlier one rule by rule; all of them override the defaults.
/// - A file that is not valid YAML, is not a mapping, has a value that is not a string (oslo's
///   old list-of-lists form included), has a rule that does not parse, or cannot be read,
///   is an error naming the file and the rule.
///
/// oslo.policy re-reads changed files while running; Glimpse reads them once, at start.
public enum PolicyFiles {
    /// All overrides from `policyFile` and `policyDirs`, later files winning.
    public static func read(policyFile: String?, policyDirs: [String] = ["policy.d"]) throws(PolicyError) -> [String: String] {
        var rules: [String: String] = [:]
        let fileManager = FileManager.default
        var base = fileManager.currentDirectoryPath
        if let policyFile, !policyFile.isEmpty {
            base = (policyFile as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(atPath: policyFile, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    throw PolicyError("policy file \(policyFile) is a directory")
                }
                for (name, rule) in try load(path: policyFile) { rules[name] = rule }
            }
        }
        for directory in policyDirs where !directory.isEmpty {
            let path = directory.hasPrefix("/") ? directory : (base as NSString).appendingPathComponent(directory)
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            guard isDirectory.boolValue else {
                throw PolicyError("policy directory \(path) is not a directory")
            }
            let names: [String]
            do {
                names = try fileManager.contentsOfDirectory(atPath: path)
            } catch {
                throw PolicyError("policy directory \(path) cannot be read: \(error.localizedDescription)")
            }
            // Python's sort: by code point.
            let sorted = names.filter { !$0.hasPrefix(".") }
                .sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            for name in sorted {
                let file = (path as NSString).appendingPathComponent(name)
                var fileIsDirectory: ObjCBool = false
                guard fileManager.fileExists(atPath: file, isDirectory: &fileIsDirectory), !fileIsDirectory.boolValue else {
                    continue
                }
                for (name, rule) in try load(path: file) { rules[name] = rule }
            }
        }
        return rules
    }

    /// The rules of one file, in file order.
    public static func load(path: String) throws(PolicyError) -> [(name: String, rule: String)] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PolicyError("policy file \(path) cannot be read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyError("policy file \(path) is not UTF-8 text")
        }
        return try parse(text, origin: "policy file \(path)")
    }

    /// Parses policy-file text (YAML or JSON) and checks every rule; `origin` starts each error
    /// message (`policy file /etc/glance/policy.yaml`).
    public static func parse(_ text: String, origin: String) throws(PolicyError) -> [(name: String, rule: String)] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw PolicyError("\(origin) is not valid YAML or JSON: \(error)")
        }
        guard let root else { return [] }
        guard case .mapping(let mapping) = root else {
            if case .scalar = root, root.tag.rawValue == Tag.Name.null.rawValue { return [] }
            throw PolicyError("\(origin) must be a mapping of rule names to rule strings, such as \"get_image\": \"role:reader\"")
        }
        var rules: [(name: String, rule: String)] = []
        for (key, value) in mapping {
            guard case .scalar(let keyScalar) = key else {
                throw PolicyError("\(origin): a rule name must be a plain string")
            }
            let name = keyScalar.string
            guard case .scalar(let valueScalar) = value, value.tag.rawValue == Tag.Name.str.rawValue else {
                let found: String
                switch value {
                case .sequence: found = "a list (the old list-of-lists form is not supported; write the rule as a string)"
                case .mapping: found = "a mapping"
                default: found = "'\(value.scalar?.string ?? "")', which YAML reads as \(value.tag.rawValue.split(separator: ":").last ?? "a non-string"); quote it"
                }
                throw PolicyError("\(origin): rule \"\(name)\" must be a string, found \(found)")
            }
            do {
                _ = try PolicyParser.parse(valueScalar.string)
            } catch {
                throw PolicyError("\(origin): policy rule \"\(name)\": \(error.message) (in \"\(valueScalar.string)\")")
            }
            rules.append((name, valueScalar.string))
        }
        return rules
    }
}
